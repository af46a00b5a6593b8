// The source-root abstraction (src/fsops/root.ts): a path walked inside a root as a process
// chrooted into it sees it. The judge is coreutils' realpath run under chroot in that root (its
// libraries put there by copy_bom): an absolute link starts again at the root, `..` stops there,
// a link into a host path that the root does not hold leads nowhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SourceRoot } from '../src/fsops/root.ts';
import { copyBom, hasCommand, tmp } from './helpers.ts';

const skip = (process.getuid?.() !== 0 && 'chroot needs root') || (!hasCommand('chroot') && 'chroot is not installed') || (!hasCommand('realpath') && 'realpath is not installed');

describe('a path walked inside a root', { skip }, () => {
  it('ends where realpath under chroot says, for absolute links, .. above the root, loops, dangling links and host-only paths', () => {
    const dir = tmp('occlum-bom-root-');
    writeFileSync(path.join(dir, 'bom.yaml'), 'targets:\n  - target: /usr/bin\n    copy:\n      - files: [/usr/bin/realpath]\n');
    const r = copyBom(dir, ['-f', 'bom.yaml', '--root', 'root']);
    assert.equal(r.code, 0, r.stderr);
    const root = path.join(dir, 'root');
    const at = (p: string) => path.join(root, p);
    mkdirSync(at('etc'), { recursive: true });
    writeFileSync(at('etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    mkdirSync(at('d/sub'), { recursive: true });
    writeFileSync(at('d/sub/x'), 'x');
    symlinkSync('/etc/passwd', at('abs'));
    symlinkSync('../../../../../../etc/passwd', at('up'));
    symlinkSync('sub', at('d/ln'));
    symlinkSync('/d/sub', at('rel'));
    symlinkSync('loop2', at('loop1'));
    symlinkSync('loop1', at('loop2'));
    symlinkSync('/nonexistent', at('dangling'));
    symlinkSync('/usr/share/zoneinfo', at('hostonly'));
    symlinkSync('../abs', at('d/chain'));
    const walker = new SourceRoot(root);
    const cases = ['/etc/passwd', '/abs', '/up', '/d/ln/../sub/x', '/d/ln/x', '/rel/../sub/x', '/rel/x', '/loop1', '/dangling', '/hostonly', '/d/chain', '/../../etc/passwd', '/d/sub/../../abs'];
    for (const p of cases) {
      const judge = spawnSync('chroot', [root, '/usr/bin/realpath', '-e', p], { encoding: 'utf8' });
      const expected = judge.status === 0 ? judge.stdout.trim() : null;
      assert.equal(walker.walk(p, true).real, expected, `${p}: realpath under chroot says ${expected ?? 'it does not resolve'} (${judge.stderr.trim()})`);
    }
    assert.deepEqual(walker.walk('/d/chain', true).links, [
      { path: '/d/chain', target: '../abs' },
      { path: '/abs', target: '/etc/passwd' },
    ]);
    assert.deepEqual(walker.walk('/d/ln/../sub/x', true).through, ['/d/sub']);
    assert.equal(walker.walk('/abs', false).type, 'link', 'the last link not followed');
    assert.equal(walker.host('/etc/passwd'), at('etc/passwd'));
  });
});
