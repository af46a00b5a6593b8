# Our copy_bom in the place of Occlum's: shared by the .deb's maintainer scripts and the .rpm's
# scriptlets, which deb.ts and rpm.ts make by putting these lines where they say @occlum-link.sh@.
ours=/usr/lib/occlum-bom/occlum-bom-linux-x64
link=/opt/occlum/build/bin/copy_bom
# A link to ours at $link when Occlum's directory is there. Anything else found there is
# Occlum's, written since it was moved aside (on Debian, by something other than dpkg): it is
# moved to $link.distrib, where the older one was.
put_ours() {
  [ -d "${link%/*}" ] || return 0
  if { [ -e "$link" ] || [ -L "$link" ]; } && [ "$(readlink "$link")" != "$ours" ]; then
    mv -f "$link" "$link.distrib"
  fi
  ln -sfn "$ours" "$link"
}
# Our link taken away; the caller puts Occlum's back (dpkg-divert on Debian).
take_ours() {
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$ours" ]; then
    rm -f "$link"
  fi
}
