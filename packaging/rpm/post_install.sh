# tillpoint (rpm %post): the till's account and group, its directories and
# the key-encryption key; the same as the .deb's postinst.
getent group tillpoint >/dev/null || groupadd --system tillpoint
getent passwd tillpoint >/dev/null || useradd --system --gid tillpoint \
  --home-dir /var/lib/tillpoint/session --no-create-home --shell /bin/bash --comment "tillpoint till" tillpoint
for g in dialout lp; do getent group "$g" >/dev/null && usermod -a -G "$g" tillpoint || true; done
install -d -m 0700 -o tillpoint -g tillpoint /var/lib/tillpoint /var/lib/tillpoint/session
install -d -m 0770 -o root -g tillpoint /etc/tillpoint
[ -e /etc/tillpoint/tillpoint.toml ] || install -m 0600 -o tillpoint -g tillpoint /usr/share/tillpoint/tillpoint.toml /etc/tillpoint/tillpoint.toml
if [ ! -e /etc/tillpoint/kek ]; then
  (umask 077; head -c 32 /dev/urandom > /etc/tillpoint/kek.new)
  chown root:tillpoint /etc/tillpoint/kek.new && chmod 0640 /etc/tillpoint/kek.new
  mv /etc/tillpoint/kek.new /etc/tillpoint/kek
fi
udevadm control --reload-rules >/dev/null 2>&1 || true
