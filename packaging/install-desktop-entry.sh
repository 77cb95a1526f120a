#!/usr/bin/env sh
# Adds Krapition to the desktop's application menu for this user (no root needed):
#   dist/krapition/install-desktop-entry.sh      (or: packaging/install-desktop-entry.sh dist/krapition)
# Installs the icon and a desktop entry whose Exec= names this bundle's executable; run it again after
# moving the bundle. Remove with: rm ~/.local/share/applications/krapition.desktop
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bundle=$(cd "${1:-$here}" && pwd)
exe="$bundle/krapition"
[ -x "$exe" ] || { echo "no krapition executable in $bundle" >&2; exit 1; }
icon="$bundle/_internal/assets/krapition.png"
[ -f "$icon" ] || icon="$here/../assets/krapition.png"
entry="$bundle/krapition.desktop"
[ -f "$entry" ] || entry="$here/krapition.desktop"
data=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps"
cp "$icon" "$data/icons/hicolor/256x256/apps/krapition.png"
sed -e "s|^Exec=krapition|Exec=\"$exe\"|" -e "s|^TryExec=krapition|TryExec=$exe|" "$entry" \
  > "$data/applications/krapition.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
echo "installed $data/applications/krapition.desktop -> $exe"
