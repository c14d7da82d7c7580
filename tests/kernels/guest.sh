# Stage 2, PID 1 of the guest after switch_root (the machine's bash over 9p): runs the command
# vm.sh wrote (/run/lane/cmd.sh) with its output in /run/lane/log, leaves its exit status in
# /run/lane/rc and powers the VM off (reboot=t with qemu -no-reboot: qemu exits).
read -r up _ < /proc/uptime
echo "$up" > /run/lane/booted
cd / && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 /bin/bash /run/lane/cmd.sh < /dev/null > /run/lane/log 2>&1
echo $? > /run/lane/rc
echo b > /proc/sysrq-trigger
