// SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/): the image as the described package,
// which CONTAINS its files; each file is related to the Debian package it came from.
//
// Why not "Debian package CONTAINS file": a package may contain files only if its files were
// analysed (filesAnalyzed true), and then its verification code must cover all of its files,
// most of which are not in the image. So the Debian packages are listed with filesAnalyzed
// false, and each file is EXPANDED_FROM_ARCHIVE its package (the .deb it was unpacked from).
import { createHash } from 'node:crypto';
import { debPurl } from './purl.js';
import { isLibrary, packageKey, type ImageFile, type Inventory } from './inventory.js';
import type { DebPackage } from './dpkg.js';
import { uuidV5, type DocumentMeta } from './meta.js';

interface Checksum {
  algorithm: 'SHA1' | 'SHA256';
  checksumValue: string;
}
interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  packageFileName?: string;
  downloadLocation: string;
  filesAnalyzed: boolean;
  packageVerificationCode?: { packageVerificationCodeValue: string };
  primaryPackagePurpose?: 'APPLICATION' | 'LIBRARY' | 'CONTAINER';
  externalRefs?: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[];
  comment?: string;
}
interface SpdxFile {
  SPDXID: string;
  fileName: string;
  checksums: Checksum[];
  comment?: string;
}
interface Relationship {
  spdxElementId: string;
  relationshipType: 'DESCRIBES' | 'CONTAINS' | 'EXPANDED_FROM_ARCHIVE';
  relatedSpdxElement: string;
}
export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  files: SpdxFile[];
  relationships: Relationship[];
}

const IMAGE_ID = 'SPDXRef-Image';

/**
 * An SPDX identifier (`SPDXRef-` then letters, digits, `.` and `-`) that a person can read
 * and that stays the same from one document to the next: the sanitised text, made unique by
 * a hash of the exact text.
 */
function spdxId(kind: string, text: string): string {
  const readable = text.replace(/[^A-Za-z0-9.]+/g, '-').slice(-80).replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 10);
  return `SPDXRef-${kind}-${readable ? `${readable}-` : ''}${hash}`;
}

const packageId = (p: DebPackage) => spdxId('Package', packageKey(p));
const fileId = (f: ImageFile) => spdxId('File', f.path);

/** The file name of the .deb (dpkg-name's convention: no epoch in file names). */
const debFileName = (p: DebPackage) => `${p.name}_${p.version.replace(/^\d+:/, '')}_${p.arch}.deb`;

/**
 * SPDX 2.3 clause 7.9: SHA-1 of the sorted, concatenated, lower-case SHA-1s of the package's
 * files.
 */
export function verificationCode(sha1s: Iterable<string>): string {
  return createHash('sha1').update([...sha1s].map((s) => s.toLowerCase()).sort().join('')).digest('hex');
}

/** `sha1` holds the SHA-1 of every file of the inventory (SPDX requires one per file). */
export function toSpdx(inv: Inventory, meta: DocumentMeta, sha1: ReadonlyMap<string, string>): SpdxDocument {
  const sha1Of = (f: ImageFile) => {
    const s = sha1.get(f.path);
    if (s === undefined) throw new Error(`no SHA-1 for ${f.path}`);
    return s;
  };
  const image: SpdxPackage = {
    SPDXID: IMAGE_ID,
    name: inv.name,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: true,
    packageVerificationCode: { packageVerificationCodeValue: verificationCode(inv.files.map(sha1Of)) },
    primaryPackagePurpose: 'CONTAINER',
    comment: `Occlum image root; occlum-bom digest of its manifest: ${inv.digest}`,
  };
  const debs: SpdxPackage[] = inv.packages.map((p) => ({
    SPDXID: packageId(p),
    name: p.name,
    versionInfo: p.version,
    packageFileName: debFileName(p),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: isLibrary(p) ? 'LIBRARY' : 'APPLICATION',
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: debPurl(p, inv.distro) }],
  }));
  const files: SpdxFile[] = inv.files.map((f) => {
    const from = f.from;
    const comment = from === null ? undefined : `${from.source !== undefined ? `copied from ${from.source} ` : ''}by ${from.bom}${from.rule !== undefined ? ` (${from.rule})` : ''}`;
    return {
      SPDXID: fileId(f),
      fileName: `.${f.path}`,
      checksums: [
        { algorithm: 'SHA1', checksumValue: sha1Of(f) },
        { algorithm: 'SHA256', checksumValue: f.sha256 },
      ],
      ...(comment !== undefined ? { comment } : {}),
    };
  });
  const relationships: Relationship[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: IMAGE_ID },
    ...inv.files.map((f): Relationship => ({ spdxElementId: IMAGE_ID, relationshipType: 'CONTAINS', relatedSpdxElement: fileId(f) })),
    ...inv.files.flatMap((f) =>
      f.packages.map((p): Relationship => ({ spdxElementId: fileId(f), relationshipType: 'EXPANDED_FROM_ARCHIVE', relatedSpdxElement: packageId(p) })),
    ),
  ];
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: inv.name,
    // Unique per image and time, and a valid URI without '#', as clause 6.5 asks.
    documentNamespace: `urn:uuid:${uuidV5(`occlum-bom:spdx:${inv.name}:${inv.digest}:${meta.timestamp}`)}`,
    creationInfo: { created: meta.timestamp, creators: [`Tool: ${meta.tool.name}-${meta.tool.version}`] },
    packages: [image, ...debs],
    files,
    relationships,
  };
}
