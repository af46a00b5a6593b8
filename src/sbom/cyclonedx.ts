// CycloneDX 1.6 JSON (https://cyclonedx.org/docs/1.6/json/): the image as the BOM's subject, a
// component per Debian package and per file, and a dependency graph image -> files -> packages.
import type { From } from '../manifest.js';
import { debPurl } from './purl.js';
import { isLibrary, type ImageFile, type Inventory } from './inventory.js';
import { uuidV5, type DocumentMeta } from './meta.js';

interface Property {
  name: string;
  value: string;
}
interface Component {
  type: 'application' | 'library' | 'container' | 'file';
  'bom-ref'?: string;
  name: string;
  version?: string;
  purl?: string;
  hashes?: { alg: 'SHA-256'; content: string }[];
  properties?: Property[];
}
interface Dependency {
  ref: string;
  dependsOn?: string[];
}
export interface CycloneDxBom {
  $schema: string;
  bomFormat: 'CycloneDX';
  specVersion: '1.6';
  serialNumber: string;
  version: number;
  metadata: { timestamp: string; tools: { components: Component[] }; component: Component };
  components: Component[];
  dependencies: Dependency[];
}

const IMAGE_REF = 'occlum-image';
const fileRef = (f: ImageFile) => `file:${f.path}`;

export function toCycloneDx(inv: Inventory, meta: DocumentMeta): CycloneDxBom {
  const packages: Component[] = inv.packages.map((p) => {
    const purl = debPurl(p, inv.distro);
    return { type: isLibrary(p) ? 'library' : 'application', 'bom-ref': purl, name: p.name, version: p.version, purl };
  });
  const files: Component[] = inv.files.map((f) => {
    const properties = provenance(f.from);
    return {
      type: 'file',
      'bom-ref': fileRef(f),
      name: f.path,
      hashes: [{ alg: 'SHA-256', content: f.sha256 }],
      ...(properties.length > 0 ? { properties } : {}),
    };
  });
  // Every component is in the graph; one with nothing to depend on is listed with no
  // dependsOn, which CycloneDX reads as "known to have no dependencies".
  const dependencies: Dependency[] = [
    { ref: IMAGE_REF, ...(files.length > 0 ? { dependsOn: inv.files.map(fileRef) } : {}) },
    ...inv.files.map((f) => ({ ref: fileRef(f), ...(f.packages.length > 0 ? { dependsOn: f.packages.map((p) => debPurl(p, inv.distro)) } : {}) })),
    ...packages.map((c) => ({ ref: c['bom-ref']! })),
  ];
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${uuidV5(`occlum-bom:cyclonedx:${inv.name}:${inv.digest}:${meta.timestamp}`)}`,
    version: 1,
    metadata: {
      timestamp: meta.timestamp,
      tools: { components: [{ type: 'application', name: meta.tool.name, version: meta.tool.version }] },
      // An Occlum image is a file system run isolated in an enclave: CycloneDX's "container".
      component: { type: 'container', 'bom-ref': IMAGE_REF, name: inv.name, properties: [{ name: 'occlum-bom:digest', value: inv.digest }] },
    },
    components: [...packages, ...files],
    dependencies,
  };
}

/** Why the file is in the image, from the manifest, as properties in the tool's namespace. */
function provenance(from: From | null): Property[] {
  if (from === null) return [];
  const out: Property[] = [
    { name: 'occlum-bom:bom', value: from.bom },
    { name: 'occlum-bom:op', value: from.op },
  ];
  if (from.source !== undefined) out.push({ name: 'occlum-bom:source', value: from.source });
  if (from.neededBy !== undefined) out.push({ name: 'occlum-bom:needed-by', value: from.neededBy });
  if (from.rule !== undefined) out.push({ name: 'occlum-bom:rule', value: from.rule });
  return out;
}
