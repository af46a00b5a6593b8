// `occlum-bom sbom`: documents of an image built by copy_bom, checked against the formats'
// rules (CycloneDX 1.6 with the official schema and validator; SPDX 2.3 with its required
// fields and rules, see spdxRules below), against dpkg itself for the owning packages, and for
// reproducibility; plus dpkg's database lookups (merged /usr, Multi-Arch names) on a made-up one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { Ajv } from 'ajv';
import { findOwners } from '../src/sbom/dpkg.ts';
import { debPurl, purlEncode } from '../src/sbom/purl.ts';
import { verificationCode } from '../src/sbom/spdx.ts';
import { copyBom, hasCommand, run, tmp, writeTree } from './helpers.ts';

/** The built `occlum-bom ARGS`, with SOURCE_DATE_EPOCH unset unless given. */
const cli = (args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) => run('occlum-bom', args, { cwd: opts.cwd, env: { SOURCE_DATE_EPOCH: '', ...opts.env } });

const sha = (alg: string, file: string) => createHash(alg).update(readFileSync(file)).digest('hex');
/** What dpkg itself says (the judge; the command never runs dpkg). */
const dpkgQuery = (format: string, pkg: string) => spawnSync('dpkg-query', ['-W', `-f=${format}`, pkg], { encoding: 'utf8' }).stdout;
const dpkgOwner = (file: string) => spawnSync('dpkg', ['-S', file], { encoding: 'utf8' }).stdout.split(':')[0];

// coreutils lists /bin/true, which merged /usr makes the same file as /usr/bin/true (copied below).
const haveDpkg = hasCommand('dpkg-query') && existsSync('/var/lib/dpkg/status') && dpkgOwner('/bin/true') === 'coreutils';

/**
 * An instance directory with its image built: /usr/bin/true (coreutils) and the libraries
 * copy_bom adds for it (libc6, which dpkg lists under /lib/...), a file of the user's own, a link.
 */
function instance(): string {
  const dir = tmp();
  writeTree(dir, {
    'mine/app.conf': 'port 1\n',
    'bom.yaml':
      'targets:\n' +
      '  - target: /bin\n' +
      '    copy:\n' +
      '      - files: [/usr/bin/true]\n' +
      '    createlinks:\n' +
      '      - {src: /bin/true, linkname: yes}\n' +
      '  - target: /etc\n' +
      '    copy:\n' +
      '      - from: mine\n' +
      '        files: [app.conf]\n',
  });
  const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'image']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(path.join(dir, 'image.manifest.json')), 'copy_bom writes the manifest');
  return dir;
}

describe('sbom of an image built by copy_bom', { skip: !haveDpkg && 'needs a Debian host where coreutils owns /bin/true' }, () => {
  let dir: string;
  let libc: string;
  before(() => {
    dir = instance();
    libc = spawnSync('sh', ['-c', 'ls image/lib/*/libc.so.6'], { cwd: dir, encoding: 'utf8' }).stdout.trim().replace(/^image/, '');
    assert.ok(libc, 'libc.so.6 is in the image');
  });

  it('CycloneDX 1.6: valid by the official schema, files with SHA-256, their packages from dpkg', async () => {
    const r = cli(['sbom', '--root', 'image'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const errors = await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(r.stdout);
    assert.equal(errors, null, JSON.stringify(errors, null, 1));

    const bom = JSON.parse(r.stdout) as CycloneDx;
    assert.equal(bom.specVersion, '1.6');
    assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(bom.metadata.component.name, `${path.basename(dir)}/image`);
    const refs = bom.components.map((c) => c['bom-ref']);
    assert.equal(new Set(refs).size, refs.length, 'bom-refs are unique');

    // Every regular file of the manifest, and nothing else (the link /bin/yes is not a file).
    const manifest = JSON.parse(readFileSync(path.join(dir, 'image.manifest.json'), 'utf8')) as { entries: { path: string; type: string; sha256?: string }[] };
    const files = bom.components.filter((c) => c.type === 'file');
    assert.deepEqual(
      files.map((f) => [f.name, f.hashes?.[0]?.content]),
      manifest.entries.filter((e) => e.type === 'file').map((e) => [e.path, e.sha256]),
    );
    assert.equal(files.find((f) => f.name === '/bin/true')!.hashes![0]!.content, sha('sha256', '/usr/bin/true'));

    const dependsOn = (ref: string) => bom.dependencies.find((d) => d.ref === ref)?.dependsOn ?? [];
    const coreutils = `pkg:deb/debian/coreutils@${purlEncode(dpkgQuery('${Version}', 'coreutils'))}?arch=${dpkgQuery('${Architecture}', 'coreutils')}`;
    assert.equal(dependsOn('file:/bin/true').length, 1);
    assert.ok(dependsOn('file:/bin/true')[0]!.startsWith(coreutils), `${dependsOn('file:/bin/true')} is ${coreutils}...`);
    // libc.so.6 is listed by libc6 under /lib/..., while realpath gives /usr/lib/...: merged /usr.
    assert.match(dependsOn(`file:${libc}`)[0]!, /^pkg:deb\/debian\/libc6@/);
    assert.deepEqual(dependsOn('file:/etc/app.conf'), [], 'a file of the user belongs to no package');
    const pkg = bom.components.find((c) => c.name === 'coreutils')!;
    assert.equal(pkg.type, 'application');
    assert.equal(bom.components.find((c) => c.name === 'libc6')!.type, 'library');
    assert.equal(pkg.version, dpkgQuery('${Version}', 'coreutils'));
    // The image depends on each file; every component is in the graph.
    assert.deepEqual(dependsOn('occlum-image'), files.map((f) => f['bom-ref']));
    assert.deepEqual(bom.dependencies.slice(1).map((d) => d.ref).sort(), [...refs].sort());
    // Provenance from the manifest.
    const props = Object.fromEntries((files.find((f) => f.name === libc)!.properties ?? []).map((p) => [p.name, p.value]));
    assert.equal(props['occlum-bom:op'], 'lib');
    assert.equal(props['occlum-bom:needed-by'], '/usr/bin/true');
  });

  it('SPDX 2.3: the spec rules, SHA-1 and SHA-256 of each file, CONTAINS and the packages', () => {
    const r = cli(['sbom', '--root', 'image', '--format', 'spdx'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Spdx;
    assert.deepEqual(spdxRules(doc), []);

    const file = doc.files.find((f) => f.fileName === './bin/true')!;
    assert.deepEqual(file.checksums, [
      { algorithm: 'SHA1', checksumValue: sha('sha1', '/usr/bin/true') },
      { algorithm: 'SHA256', checksumValue: sha('sha256', '/usr/bin/true') },
    ]);
    assert.deepEqual(doc.files.map((f) => f.fileName).sort(), ['./bin/true', './etc/app.conf', `.${libc}`, './lib64/ld-linux-x86-64.so.2'].sort());
    const image = doc.packages[0]!;
    assert.equal(image.SPDXID, 'SPDXRef-Image');
    const sha1s = doc.files.map((f) => f.checksums.find((c) => c.algorithm === 'SHA1')!.checksumValue);
    assert.equal(image.packageVerificationCode?.packageVerificationCodeValue, verificationCode(sha1s));
    const rel = (type: string, from: string) => doc.relationships.filter((x) => x.relationshipType === type && x.spdxElementId === from).map((x) => x.relatedSpdxElement);
    assert.deepEqual(rel('DESCRIBES', 'SPDXRef-DOCUMENT'), ['SPDXRef-Image']);
    assert.deepEqual(rel('CONTAINS', 'SPDXRef-Image').sort(), doc.files.map((f) => f.SPDXID).sort());
    const coreutils = doc.packages.find((p) => p.name === 'coreutils')!;
    assert.deepEqual(rel('EXPANDED_FROM_ARCHIVE', file.SPDXID), [coreutils.SPDXID]);
    assert.equal(coreutils.versionInfo, dpkgQuery('${Version}', 'coreutils'));
    assert.equal(coreutils.externalRefs?.[0]?.referenceType, 'purl');
    assert.deepEqual(rel('EXPANDED_FROM_ARCHIVE', doc.files.find((f) => f.fileName === './etc/app.conf')!.SPDXID), []);
  });

  it('is reproducible with SOURCE_DATE_EPOCH, and refuses a malformed one', () => {
    for (const format of ['cyclonedx', 'spdx']) {
      const env = { SOURCE_DATE_EPOCH: '1700000000' };
      const a = cli(['sbom', '--root', 'image', '--format', format], { cwd: dir, env });
      const b = cli(['sbom', '--root', 'image', '--format', format, '-o', 'out.json'], { cwd: dir, env });
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(readFileSync(path.join(dir, 'out.json'), 'utf8'), a.stdout);
      assert.match(a.stdout, /"(timestamp|created)": "2023-11-14T22:13:20Z"/);
    }
    const bad = cli(['sbom', '--root', 'image'], { cwd: dir, env: { SOURCE_DATE_EPOCH: 'yesterday' } });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'occlum-bom: SOURCE_DATE_EPOCH must be a number of seconds, found "yesterday"\n');
  });

  it('SPDX stops when a file no longer matches the manifest; a missing manifest is an error', () => {
    const copy = instance();
    writeFileSync(path.join(copy, 'image/bin/true'), 'changed');
    const changed = cli(['sbom', '--root', 'image', '--format', 'spdx'], { cwd: copy });
    assert.equal(changed.code, 249);
    assert.equal(changed.stderr, "occlum-bom: /bin/true differs from the image's manifest: run occlum-bom verify\n");
    rmSync(path.join(copy, 'image/bin/true'));
    symlinkSync('/etc/passwd', path.join(copy, 'image/bin/true'));
    const linked = cli(['sbom', '--root', 'image', '--format', 'spdx'], { cwd: copy });
    assert.equal(linked.code, 255);
    assert.match(linked.stderr, /\/bin\/true is now a symbolic link in the image/);
    const none = cli(['sbom', '--root', 'nowhere'], { cwd: copy });
    assert.equal(none.code, 255);
    assert.match(none.stderr, /^occlum-bom: cannot read manifest .*nowhere\.manifest\.json/);
  });

  it('without a dpkg database, lists the files alone and says so', () => {
    const r = cli(['sbom', '--root', 'image', '--dpkg-admindir', path.join(dir, 'no-dpkg')], { cwd: dir, env: { OCCLUM_LOG_LEVEL: 'warn' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no dpkg database at .*no-dpkg: files are listed without their packages/);
    const bom = JSON.parse(r.stdout) as CycloneDx;
    assert.deepEqual(bom.components.map((c) => c.type).filter((t) => t !== 'file'), []);
  });
});

describe("dpkg's database", () => {
  // A made-up database: one package lists a library under /lib (as libc6 does), a Multi-Arch:
  // same package is named pkg:arch, one file is listed by two architectures of one package.
  const db = tmp();
  writeTree(db, {
    'info/libfoo1:amd64.list': '/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libfoo.so.1\n/usr/share/doc/libfoo1/copyright\n',
    'info/libfoo1:i386.list': '/.\n/usr/share/doc/libfoo1/copyright\n',
    'info/tool.list': '/usr/bin/tool\n',
    'info/gone.list': '/usr/bin/gone\n',
    status: [
      'Package: libfoo1\nStatus: install ok installed\nSection: libs\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1:2.0+dfsg-3\n',
      'Package: libfoo1\nStatus: install ok installed\nSection: libs\nArchitecture: i386\nMulti-Arch: same\nVersion: 1:2.0+dfsg-3\n',
      'Package: tool\nStatus: install ok installed\nSection: non-free/utils\nArchitecture: amd64\nVersion: 0.1\nDescription: a tool\n with a long description\n',
      'Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 9\n',
    ].join('\n'),
  });
  const admindir = db;

  it('finds a library listed under /lib by its /usr/lib path on a merged-/usr host, and only there', () => {
    const merged = findOwners(['/usr/lib/x86_64-linux-gnu/libfoo.so.1', '/lib/x86_64-linux-gnu/libfoo.so.1'], { admindir, mergedUsr: ['lib'] });
    for (const owners of merged.values()) assert.deepEqual(owners.map((p) => `${p.name}:${p.arch}=${p.version}`), ['libfoo1:amd64=1:2.0+dfsg-3']);
    const split = findOwners(['/usr/lib/x86_64-linux-gnu/libfoo.so.1'], { admindir, mergedUsr: [] });
    assert.deepEqual(split.get('/usr/lib/x86_64-linux-gnu/libfoo.so.1'), []);
  });

  it('reads package names with and without architecture, shared files, sections; skips removed packages', () => {
    const owners = findOwners(['/usr/share/doc/libfoo1/copyright', '/usr/bin/tool', '/usr/bin/gone', '/nowhere'], { admindir, mergedUsr: [] });
    assert.deepEqual(owners.get('/usr/share/doc/libfoo1/copyright')!.map((p) => p.arch), ['amd64', 'i386']);
    assert.deepEqual(owners.get('/usr/bin/tool'), [{ name: 'tool', arch: 'amd64', version: '0.1', section: 'utils' }]);
    assert.deepEqual(owners.get('/usr/bin/gone'), []);
    assert.deepEqual(owners.get('/nowhere'), []);
  });

  it('looks a link up by what it points to first, then by itself', () => {
    const host = tmp();
    mkdirSync(path.join(host, 'bin'));
    writeFileSync(path.join(host, 'bin/real'), '');
    symlinkSync('real', path.join(host, 'bin/link'));
    const links = tmp();
    writeTree(links, {
      'info/real-pkg.list': `${host}/bin/real\n`,
      'info/link-pkg.list': `${host}/bin/link\n${host}/bin/dangling\n`,
      status: 'Package: real-pkg\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\nPackage: link-pkg\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n',
    });
    symlinkSync('nothing', path.join(host, 'bin/dangling'));
    const owners = findOwners([`${host}/bin/link`, `${host}/bin/dangling`], { admindir: links, mergedUsr: [] });
    assert.deepEqual(owners.get(`${host}/bin/link`)!.map((p) => p.name), ['real-pkg']);
    assert.deepEqual(owners.get(`${host}/bin/dangling`)!.map((p) => p.name), ['link-pkg']);
  });
});

describe('package URLs', () => {
  it('encode as the purl spec says: + as %2B, the epoch colon and ~ kept, qualifiers sorted', () => {
    assert.equal(purlEncode('1:2.36-9+deb12u4~bpo'), '1:2.36-9%2Bdeb12u4~bpo');
    const pkg = { name: 'libstdc++6', arch: 'amd64', version: '12.2.0-14+deb12u1', section: 'libs' };
    assert.equal(debPurl(pkg, { vendor: 'debian', release: 'debian-12' }), 'pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12');
    assert.equal(debPurl(pkg, { vendor: 'Ubuntu', release: null }), 'pkg:deb/ubuntu/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64');
  });
});

interface CycloneDx {
  specVersion: string;
  serialNumber: string;
  metadata: { component: { name: string } };
  components: { type: string; 'bom-ref': string; name: string; version?: string; hashes?: { content: string }[]; properties?: { name: string; value: string }[] }[];
  dependencies: { ref: string; dependsOn?: string[] }[];
}

interface Spdx {
  files: { SPDXID: string; fileName: string; checksums: { algorithm: string; checksumValue: string }[] }[];
  packages: { SPDXID: string; name: string; versionInfo?: string; filesAnalyzed?: boolean; packageVerificationCode?: { packageVerificationCodeValue: string }; externalRefs?: { referenceType: string }[] }[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
  documentNamespace: string;
}

/**
 * SPDX 2.3's rules for what the command writes. No npm package (nor Debian package) ships
 * the official SPDX 2.3 JSON schema, so its constraints on these elements are restated here
 * from the specification (v2.3 clauses 6-11 and its JSON schema): required fields, the
 * identifier, date and checksum formats, the enumerations, no unknown fields; then the rules
 * a schema cannot state: a SHA-1 for every file (8.4), unique identifiers that every
 * relationship resolves to, a package with filesAnalyzed false containing no file (7.8), the
 * verification code of a package whose files were analysed (7.9).
 */
function spdxRules(doc: Spdx): string[] {
  const id = { type: 'string', pattern: '^SPDXRef-[a-zA-Z0-9.-]+$' };
  const date = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$' };
  const checksum = {
    type: 'object',
    required: ['algorithm', 'checksumValue'],
    additionalProperties: false,
    properties: {
      algorithm: { enum: ['SHA1', 'BLAKE3', 'SHA3-384', 'SHA256', 'SHA384', 'BLAKE2b-512', 'BLAKE2b-256', 'SHA3-512', 'MD2', 'ADLER32', 'MD4', 'SHA3-256', 'BLAKE2b-384', 'SHA512', 'MD6', 'MD5', 'SHA224'] },
      checksumValue: { type: 'string', pattern: '^[0-9a-f]+$' },
    },
  };
  const schema = {
    type: 'object',
    required: ['SPDXID', 'creationInfo', 'dataLicense', 'name', 'spdxVersion', 'documentNamespace'],
    additionalProperties: false,
    properties: {
      SPDXID: { const: 'SPDXRef-DOCUMENT' },
      spdxVersion: { const: 'SPDX-2.3' },
      dataLicense: { const: 'CC0-1.0' },
      name: { type: 'string', minLength: 1 },
      documentNamespace: { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9+.-]*:[^#\\s]+$' },
      creationInfo: {
        type: 'object',
        required: ['created', 'creators'],
        additionalProperties: false,
        properties: { created: date, creators: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(Person|Organization|Tool): .+' } } },
      },
      packages: {
        type: 'array',
        items: {
          type: 'object',
          required: ['SPDXID', 'downloadLocation', 'name'],
          additionalProperties: false,
          properties: {
            SPDXID: id,
            name: { type: 'string', minLength: 1 },
            versionInfo: { type: 'string' },
            packageFileName: { type: 'string' },
            downloadLocation: { type: 'string', minLength: 1 },
            filesAnalyzed: { type: 'boolean' },
            packageVerificationCode: {
              type: 'object',
              required: ['packageVerificationCodeValue'],
              additionalProperties: false,
              properties: { packageVerificationCodeValue: { type: 'string', pattern: '^[0-9a-f]{40}$' } },
            },
            primaryPackagePurpose: { enum: ['OTHER', 'INSTALL', 'ARCHIVE', 'FIRMWARE', 'APPLICATION', 'FRAMEWORK', 'LIBRARY', 'CONTAINER', 'SOURCE', 'DEVICE', 'OPERATING-SYSTEM', 'FILE'] },
            externalRefs: {
              type: 'array',
              items: {
                type: 'object',
                required: ['referenceCategory', 'referenceLocator', 'referenceType'],
                additionalProperties: false,
                properties: {
                  referenceCategory: { enum: ['OTHER', 'PERSISTENT-ID', 'PERSISTENT_ID', 'SECURITY', 'PACKAGE-MANAGER', 'PACKAGE_MANAGER'] },
                  referenceLocator: { type: 'string', pattern: '^\\S+$' },
                  referenceType: { type: 'string' },
                },
              },
            },
            comment: { type: 'string' },
          },
          // 7.9: a package whose files were analysed (the default) has a verification code.
          if: { not: { properties: { filesAnalyzed: { const: false } }, required: ['filesAnalyzed'] } },
          then: { required: ['packageVerificationCode'] },
        },
      },
      files: {
        type: 'array',
        items: {
          type: 'object',
          required: ['SPDXID', 'checksums', 'fileName'],
          additionalProperties: false,
          properties: { SPDXID: id, fileName: { type: 'string', pattern: '^\\./' }, checksums: { type: 'array', minItems: 1, items: checksum }, comment: { type: 'string' } },
        },
      },
      relationships: {
        type: 'array',
        items: {
          type: 'object',
          required: ['spdxElementId', 'relatedSpdxElement', 'relationshipType'],
          additionalProperties: false,
          properties: {
            spdxElementId: { type: 'string' },
            relatedSpdxElement: { type: 'string' },
            relationshipType: { enum: ['DESCRIBES', 'CONTAINS', 'CONTAINED_BY', 'DEPENDS_ON', 'DEPENDENCY_OF', 'EXPANDED_FROM_ARCHIVE', 'GENERATED_FROM', 'OTHER'] },
          },
        },
      },
    },
  };
  // strictRequired off: the if/then rule names a property declared beside it, not inside `then`.
  const validate = new Ajv({ strict: true, strictRequired: false, allErrors: true }).compile(schema);
  if (!validate(doc)) return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

  const problems: string[] = [];
  const ids = ['SPDXRef-DOCUMENT', ...doc.packages.map((p) => p.SPDXID), ...doc.files.map((f) => f.SPDXID)];
  if (new Set(ids).size !== ids.length) problems.push('SPDX identifiers are not unique');
  for (const f of doc.files) if (!f.checksums.some((c) => c.algorithm === 'SHA1')) problems.push(`${f.fileName} has no SHA1 checksum`);
  for (const r of doc.relationships) {
    for (const end of [r.spdxElementId, r.relatedSpdxElement]) if (!ids.includes(end)) problems.push(`relationship to unknown element ${end}`);
    const pkg = doc.packages.find((p) => p.SPDXID === r.spdxElementId);
    if (r.relationshipType === 'CONTAINS' && pkg?.filesAnalyzed === false && doc.files.some((f) => f.SPDXID === r.relatedSpdxElement)) {
      problems.push(`${pkg.SPDXID} has filesAnalyzed false but contains a file`);
    }
  }
  if (!doc.relationships.some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES')) problems.push('the document describes nothing');
  for (const p of doc.packages.filter((x) => x.filesAnalyzed !== false)) {
    const contained = new Set(doc.relationships.filter((r) => r.spdxElementId === p.SPDXID && r.relationshipType === 'CONTAINS').map((r) => r.relatedSpdxElement));
    const sha1s = doc.files.filter((f) => contained.has(f.SPDXID)).map((f) => f.checksums.find((c) => c.algorithm === 'SHA1')?.checksumValue ?? '');
    if (p.packageVerificationCode?.packageVerificationCodeValue !== verificationCode(sha1s)) problems.push(`${p.SPDXID}: wrong verification code`);
  }
  return problems;
}
