#!/usr/bin/env bash
# npm run demo: build an image from examples/demo.yaml in ./demo/instance/image, as the
# Occlum docs do it (copy_bom run from inside the instance directory, --root image).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
rm -rf "$repo/demo" && mkdir -p "$repo/demo/instance" && cd "$repo/demo/instance"
node "$repo/bin/copy_bom.js" -f "$repo/examples/demo.yaml" --root image -i "$repo/templates"
echo "image built in $PWD/image:"
find image | sort | sed 's/^/  /'
if [ "$(id -u)" = 0 ]; then
  echo "running /bin/ls inside it (chroot):"
  chroot image /bin/ls -l /etc
else
  echo "run it with: sudo chroot $PWD/image /bin/ls -l /etc"
fi
