#!/bin/sh
# deb postinst: start Rollcall at login for every user (XDG autostart), minimised to the window.
set -e
mkdir -p /etc/xdg/autostart
cat > /etc/xdg/autostart/rollcall.desktop <<'DESKTOP'
[Desktop Entry]
Type=Application
Name=Rollcall
Exec=/opt/Rollcall/rollcall %U
Icon=rollcall
X-GNOME-Autostart-enabled=true
DESKTOP
