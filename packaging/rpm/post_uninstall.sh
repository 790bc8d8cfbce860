# tillpoint (rpm %postun): on the last erase the configuration goes, the
# shop's data and, while data is there, its key-encryption key stay.
if [ "$1" = 0 ]; then
  rm -f /etc/tillpoint/tillpoint.toml
  if [ -z "$(ls -A /var/lib/tillpoint 2>/dev/null)" ]; then
    rm -f /etc/tillpoint/kek
    rmdir /etc/tillpoint /var/lib/tillpoint 2>/dev/null || true
  fi
fi
