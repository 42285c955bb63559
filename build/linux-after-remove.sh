#!/bin/sh
# deb postrm: remove the login autostart entry.
rm -f /etc/xdg/autostart/rollcall.desktop
