// Package URLs (purl) of Debian packages: pkg:deb/<vendor>/<name>@<version>?arch=<arch>&distro=<distro>.
import type { DebPackage, Distro } from './dpkg.js';

/**
 * purl's percent-encoding: everything but ASCII letters, digits, `.-_~` and `:` is encoded as
 * UTF-8 octets. So Debian's `+` becomes %2B, while an epoch's `:` stays (`1:2.4.47-2`).
 */
export function purlEncode(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9.\-_~:]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function debPurl(pkg: DebPackage, distro: Distro): string {
  // Qualifiers sorted by key, as the canonical form wants; a qualifier without value is left out.
  const qualifiers = [['arch', pkg.arch], ['distro', distro.release]].filter((q): q is [string, string] => !!q[1]);
  const query = qualifiers.map(([k, v]) => `${k}=${purlEncode(v)}`).join('&');
  return `pkg:deb/${purlEncode(distro.vendor.toLowerCase())}/${purlEncode(pkg.name.toLowerCase())}@${purlEncode(pkg.version)}${query ? `?${query}` : ''}`;
}
