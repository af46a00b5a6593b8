// `occlum-bom trace` (issue 15): each workload is run on the host under the real strace, its
// traced BOM built with copy_bom as it is, and the same command line run again inside the image
// (`unshare -m` + proc + `chroot`, as the application tests do): same output, same status.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fromText, toText, union } from '../src/trace/model.ts';
import { callsOf, eventsOf } from '../src/trace/strace.ts';
import { CLEAN_ENV, cannotRunImages, copyBom, inImage, repo, run, type Run } from './helpers.ts';

const PYTHON = '/usr/bin/python3.11';
const JDK = '/usr/lib/jvm/java-17-openjdk-amd64';
const noRun = cannotRunImages(['strace', 'gcc']);

const works: string[] = [];
process.on('exit', () => works.forEach((w) => rmSync(w, { recursive: true, force: true })));
function work(under = '/var/tmp'): string {
  mkdirSync(under, { recursive: true });
  const w = mkdtempSync(path.join(under, 'occlum-bom-trace-'));
  works.push(w);
  return w;
}

/** `occlum-bom trace ARGS` from `cwd`, with a clean environment for the command. */
function trace(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  // Only this environment: the command would see any other (a shell looks at $PWD, $HOME...).
  const r = spawnSync(process.execPath, [path.join(repo, 'bin/occlum-bom.js'), 'trace', ...args], { cwd, env: { ...CLEAN_ENV, ...env }, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The traced BOM built into `<dir>/<name>` by copy_bom, as it is. */
function build(dir: string, bom: string, name = 'image'): string {
  const r = copyBom(dir, ['-f', bom, '--root', name, '--include-dir', path.join(repo, 'templates')]);
  assert.equal(r.code, 0, `copy_bom exited ${r.code}:\n${r.stderr}`);
  return path.join(dir, name);
}

/** `argv` run in the image (from `cwd` there, if given); the image's /proc is there (base.yaml, included by default, or the test's own). */
function runIn(image: string, argv: string[], cwd?: string): { code: number; stdout: Buffer; stderr: string } {
  mkdirSync(path.join(image, 'proc'), { recursive: true });
  const [cmd, args] = inImage(image, cwd === undefined ? argv : ['/bin/sh', '-c', 'cd "$0" && exec "$@"', cwd, ...argv]);
  const r = spawnSync(cmd, args, { env: CLEAN_ENV, timeout: 60_000, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

function onHost(argv: string[], cwd?: string): { code: number; stdout: Buffer } {
  const r = spawnSync(argv[0]!, argv.slice(1), { env: CLEAN_ENV, cwd, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout };
}

/** Trace `argv` (from `cwd`), build the BOM, run the same command line in the image: the image's output is the host's. */
function traceBuildRun(dir: string, argv: string[], extra: string[] = [], cwd = dir): { bom: string; image: string; stdout: Buffer } {
  const t = trace(cwd, ['-o', path.join(dir, 'traced.yaml'), ...extra, '--', ...argv]);
  assert.equal(t.code, 0, t.stderr);
  const host = onHost(argv, cwd);
  const image = build(dir, 'traced.yaml');
  assert.ok(existsSync(path.join(image, 'proc')), "base.yaml's directories: a traced BOM includes it unless told otherwise");
  const inImage = runIn(image, argv, cwd === dir ? undefined : cwd);
  assert.equal(inImage.code, 0, `in the image: ${inImage.stderr}`);
  assert.deepEqual(inImage.stdout, host.stdout);
  return { bom: readFileSync(path.join(dir, 'traced.yaml'), 'utf8'), image, stdout: host.stdout };
}

/** Bytes and count of the regular files under `dir`. */
function usage(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        bytes += lstatSync(p).size;
        files++;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return { bytes, files };
}

/** A C program (built by gcc) that reads through a directory descriptor, after chdir, and dlopen()s the plug-in named on its command line. */
function pluginProgram(dir: string): { prog: string; plugin: string; data: string } {
  writeFileSync(
    path.join(dir, 'plugin.c'),
    'const char *greeting(void) { return "hello from the plug-in"; }\n',
  );
  writeFileSync(
    path.join(dir, 'prog.c'),
    `#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
static void show(int fd) { char b[64]; ssize_t n = read(fd, b, sizeof b - 1); if (n < 0) n = 0; b[n] = 0; printf("%s", b); close(fd); }
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int dir = open(argv[2], O_RDONLY | O_DIRECTORY);
  if (dir < 0) { perror(argv[2]); return 3; }
  show(openat(dir, "a.txt", O_RDONLY));
  if (chdir(argv[2]) != 0) return 4;
  show(open("sub/../b.txt", O_RDONLY));
  void *h = dlopen(argv[1], RTLD_NOW);
  if (!h) { fprintf(stderr, "%s\\n", dlerror()); return 5; }
  const char *(*greeting)(void) = (const char *(*)(void))dlsym(h, "greeting");
  printf("%s\\n", greeting());
  return 0;
}
`,
  );
  const prog = path.join(dir, 'bin/prog');
  const plugin = path.join(dir, 'plugins/libgreet.so');
  mkdirSync(path.dirname(prog), { recursive: true });
  mkdirSync(path.dirname(plugin), { recursive: true });
  execFileSync('gcc', ['-shared', '-fPIC', '-o', plugin, path.join(dir, 'plugin.c')]);
  execFileSync('gcc', ['-o', prog, path.join(dir, 'prog.c'), '-ldl']);
  const data = path.join(dir, 'data');
  mkdirSync(path.join(data, 'sub'), { recursive: true });
  writeFileSync(path.join(data, 'a.txt'), 'a: read through a directory descriptor\n');
  writeFileSync(path.join(data, 'b.txt'), 'b: read by a relative name after chdir\n');
  writeFileSync(path.join(data, 'unused.txt'), 'never read\n');
  return { prog, plugin, data };
}

describe('the strace reader', () => {
  it('joins an unfinished call with its resumption, in the order the calls started', () => {
    const text = [
      '10  vfork( <unfinished ...>',
      '11  execve("\\x2f\\x62", ["\\x62"], 0x1 /* 1 var */ <unfinished ...>',
      '10  <... vfork resumed>)              = 11',
      '11  <... execve resumed>)             = 0',
      '11  +++ exited with 0 +++',
    ].join('\n');
    assert.deepEqual(
      callsOf(text).map((c) => [c.pid, c.name, c.ret]),
      [
        [10, 'vfork', '11'],
        [11, 'execve', '0'],
      ],
    );
  });

  it('makes every name absolute as the kernel did: AT_FDCWD and descriptor decorations, chdir per process, a child starting where its parent was', () => {
    const hex = (s: string) => [...Buffer.from(s)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
    const text = [
      `1  openat(AT_FDCWD<${hex('/w')}>, "${hex('a')}", O_RDONLY) = 3<${hex('/w/a')}>`,
      `1  openat(3<${hex('/d')}>, "${hex('b')}", O_RDONLY|O_CLOEXEC) = 4<${hex('/d/b')}>`,
      `1  chdir("${hex('sub')}") = 0`,
      `1  clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 2`,
      `2  execve("${hex('./run')}", ["${hex('run')}"], 0x1 /* 1 var */) = 0`,
      `1  newfstatat(AT_FDCWD<${hex('/w/sub')}>, "${hex('x')}", {st_mode=S_IFREG|0644, st_size=1, ...}, AT_SYMLINK_NOFOLLOW) = 0`,
      `1  openat(AT_FDCWD<${hex('/w/sub')}>, "${hex('out')}", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 5<${hex('/w/sub/out')}>`,
      `1  openat(AT_FDCWD<${hex('/w/sub')}>, "${hex('gone')}", O_RDONLY) = -1 ENOENT (No such file or directory)`,
      `1  getdents64(3<${hex('/d')}>, 0x1 /* 2 entries */, 32768) = 48`,
    ].join('\n');
    assert.deepEqual(
      eventsOf(text, '/w').map((e) => [e.use, e.path, e.follow]),
      [
        ['read', '/w/a', true],
        ['read', '/d/b', true],
        ['list', '/w/sub', true],
        ['exec', '/w/sub/./run', true],
        ['stat', '/w/sub/x', false],
        ['write', '/w/sub/out', true],
        ['list', '/d', true],
      ],
    );
  });
});

describe('occlum-bom trace', { skip: noRun }, () => {
  it('the Python demo (ssl, sqlite3, ctypes, json, zlib, hashlib): the traced image runs it, with a fraction of the whole-stdlib image', { skip: !existsSync(PYTHON) && `${PYTHON} is not installed` }, () => {
    const dir = work();
    // The example's demo, and json as well.
    writeFileSync(path.join(dir, 'demo.py'), `${readFileSync(path.join(repo, 'examples/python/demo.py'), 'utf8')}import json\nprint(json.dumps({"json": [1, 2]}))\n`);
    const argv = [PYTHON, '-I', path.join(dir, 'demo.py')];
    const { bom, image, stdout } = traceBuildRun(dir, argv);
    assert.match(stdout.toString(), /^python 3\.11: OpenSSL .* ctypes strlen=13\n\{"json": \[1, 2\]\}\n$/);
    assert.match(bom, /_ssl\.cpython-311-x86_64-linux-gnu\.so {2}# .*dlopen/, 'the C extension Python loaded');
    assert.match(bom, /^ {6}- src: usr\/lib {2}# link\n {8}linkname: lib$/m, 'the merged-/usr link on the way');

    // The whole standard library, as examples/python.yaml copies it.
    const whole = path.join(dir, 'whole');
    mkdirSync(path.join(whole, 'inst'), { recursive: true });
    writeFileSync(path.join(whole, 'python.yaml'), readFileSync(path.join(repo, 'examples/python.yaml')));
    mkdirSync(path.join(whole, 'python'));
    writeFileSync(path.join(whole, 'python/demo.py'), readFileSync(path.join(repo, 'examples/python/demo.py')));
    const wholeImage = build(path.join(whole, 'inst'), '../python.yaml');
    const stdlib = (img: string) => usage(path.join(img, 'usr/lib/python3.11'));
    const [traced, all] = [usage(image), usage(wholeImage)];
    const figures = `stdlib ${stdlib(image).bytes} of ${stdlib(wholeImage).bytes} bytes (${stdlib(image).files} of ${stdlib(wholeImage).files} files); image ${traced.bytes} of ${all.bytes} bytes (${traced.files} of ${all.files} files)`;
    assert.ok(stdlib(image).bytes <= 0.15 * stdlib(wholeImage).bytes, figures);
    assert.ok(traced.bytes <= 0.4 * all.bytes, figures);
  });

  it('a plug-in loaded with dlopen() and named in no DT_NEEDED: copy_bom alone misses it, the traced BOM has it; *at() calls and chdir resolved', () => {
    const dir = work();
    const { prog, plugin, data } = pluginProgram(dir);
    const argv = [prog, plugin, data];
    // copy_bom with the program alone: its libraries come, the plug-in does not.
    writeFileSync(path.join(dir, 'plain.yaml'), `targets:\n  - target: ${path.dirname(prog)}\n    copy:\n      - files: [${prog}]\n  - target: ${data}\n    copy:\n      - files: [${data}/a.txt, ${data}/b.txt]\n`);
    const plain = runIn(build(dir, 'plain.yaml', 'plain'), argv);
    assert.equal(plain.code, 5, 'dlopen fails without the plug-in');
    assert.match(plain.stderr, /libgreet\.so/);

    const { bom, image, stdout } = traceBuildRun(dir, argv);
    assert.equal(stdout.toString(), 'a: read through a directory descriptor\nb: read by a relative name after chdir\nhello from the plug-in\n');
    assert.match(bom, /libgreet\.so {2}# open, dlopen/);
    assert.match(bom, new RegExp(`- target: ${data}  # dir`));
    assert.ok(!existsSync(path.join(image, data, 'unused.txt')), 'a file nobody read stays out');
  });

  it('--keep: the kept directory is copied whole, and nothing under it is listed again', () => {
    const dir = work();
    const { prog, plugin, data } = pluginProgram(dir);
    const { bom, image } = traceBuildRun(dir, [prog, plugin, data], ['--keep', 'data']); // relative to the working directory
    assert.ok(existsSync(path.join(image, data, 'unused.txt')), 'the whole directory');
    assert.match(bom, new RegExp(`- dirs:\\n {10}- ${data} {2}# keep\\n`));
    assert.equal(bom.split('\n').filter((l) => l.includes(`${data}/`)).length, 0, bom);
    // Merged with a run that only lists the directory, it stays kept whole.
    const again = trace(dir, ['--merge', 'traced.yaml', '-o', '-', '--', '/bin/ls', data]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`- dirs:\\n {10}- ${data} {2}# keep\\n`));
  });

  it('a shell script: its interpreter (#!), children, a pipe, exec, and a relative name after cd', () => {
    const dir = work();
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub/words'), 'tee\nenclave\n');
    writeFileSync(path.join(dir, 'script.sh'), `#!/bin/sh\ncd "$(dirname "$0")/sub"\nsort -r words | tr a-z A-Z\nexec cat ./words\n`, { mode: 0o755 });
    const { bom, stdout } = traceBuildRun(dir, [path.join(dir, 'script.sh')]);
    assert.equal(stdout.toString(), 'TEE\nENCLAVE\ntee\nenclave\n');
    assert.match(bom, /^ {10}- \/usr\/bin\/dash {2}# interp$/m, 'the #! interpreter, found through /bin/sh');
    assert.match(bom, /^ {6}- src: dash {2}# link\n {8}linkname: sh$/m);
    assert.ok(!bom.includes(repo), 'nothing of the caller (the test runs from the repository)');
    assert.match(bom, /^ {10}- \/usr\/bin\/sort {2}# exec/m);
  });

  it("glibc's dlopen'd modules: iconv -f UTF-8 -t UTF-16 needs its gconv module", () => {
    const dir = work();
    writeFileSync(path.join(dir, 'text'), 'enclave: café\n');
    const { bom, stdout } = traceBuildRun(dir, ['/usr/bin/iconv', '-f', 'UTF-8', '-t', 'UTF-16', path.join(dir, 'text')]);
    assert.equal(stdout.subarray(0, 2).toString('hex'), 'fffe', 'UTF-16 with its byte-order mark');
    assert.match(bom, /gconv\/UTF-16\.so {2}# open, dlopen/);
  });

  it('OpenJDK: java -cp runs a class', { skip: (!existsSync(path.join(JDK, 'bin/javac')) && 'javac (openjdk-17-jdk-headless) is not installed') || false }, () => {
    const dir = work();
    writeFileSync(path.join(dir, 'Hello.java'), 'public class Hello { public static void main(String[] a) { System.out.println("hello " + String.join(",", a) + " from Java " + Runtime.version().feature()); } }\n');
    execFileSync(path.join(JDK, 'bin/javac'), ['-d', path.join(dir, 'classes'), path.join(dir, 'Hello.java')]);
    const { bom, stdout } = traceBuildRun(dir, [path.join(JDK, 'bin/java'), '-cp', path.join(dir, 'classes'), 'Hello', 'a', 'b']);
    assert.equal(stdout.toString(), 'hello a,b from Java 17\n');
    assert.match(bom, /Hello\.class {2}# open/);
    assert.match(bom, /lib\/server\/libjvm\.so {2}# open, dlopen/);
  });

  it('two workloads traced and merged: the image runs both; merging a trace again changes nothing', () => {
    const dir = work();
    const { prog, plugin, data } = pluginProgram(dir);
    const first = [prog, plugin, data];
    const second = ['/usr/bin/iconv', '-f', 'UTF-8', '-t', 'UTF-16', path.join(data, 'a.txt')];
    const merged = path.join(dir, 'merged.yaml');
    assert.equal(trace(dir, ['-o', merged, '-i', 'base.yaml', '--', ...first]).code, 0);
    const r = trace(dir, ['--merge', merged, '-o', merged, '--', ...second]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(merged, 'utf8');
    assert.match(text, /^includes:\n {2}- base\.yaml\n/m);
    assert.equal(text.match(/^# command: /gm)?.length, 2);
    const image = build(dir, 'merged.yaml');
    for (const argv of [first, second]) {
      const inImage = runIn(image, argv);
      assert.equal(inImage.code, 0, inImage.stderr);
      assert.deepEqual(inImage.stdout, onHost(argv).stdout);
    }
    // Idempotent and deterministic: the union with itself, and the text read back, are the same text.
    const t = fromText(text);
    assert.ok(typeof t !== 'string', String(t));
    assert.equal(toText(union(t, t)), text);
    assert.equal(toText(t), text);
  });

  it("passes the command's output and exit status through; a failing command still gets its BOM, with a warning", () => {
    const dir = work();
    const r = trace(dir, ['-o', 'failed.yaml', '--', '/bin/sh', '-c', 'cat /etc/hostname >/dev/null; echo to stdout; exit 7']);
    assert.equal(r.code, 7);
    assert.equal(r.stdout, 'to stdout\n');
    assert.match(r.stderr, /exited with status 7/);
    assert.match(readFileSync(path.join(dir, 'failed.yaml'), 'utf8'), /^ {10}- \/etc\/hostname {2}# open/m);
  });

  it("leaves out what the command wrote (named in the header), and warns of a file it used and then removed", () => {
    const dir = work();
    writeFileSync(path.join(dir, 'used'), 'read, then removed\n');
    writeFileSync(path.join(dir, 'kept'), 'read\n');
    const r = trace(dir, ['-o', 'out.yaml', '--', '/bin/sh', '-c', 'cat used kept; rm used; echo made > made; cat made; mkdir new; echo x > new/f']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'read, then removed\nread\nmade\n');
    assert.match(r.stderr, new RegExp(`${path.join(dir, 'used')}: used by the command, and gone after it \\(removed or renamed\\): not in the BOM`));
    assert.doesNotMatch(r.stderr, /made: used by the command/);
    const bom = readFileSync(path.join(dir, 'out.yaml'), 'utf8');
    assert.match(bom, new RegExp(`^ {10}- ${path.join(dir, 'kept')} {2}# open$`, 'm'));
    assert.match(bom, new RegExp(`^# output: "${path.join(dir, 'made')}"$`, 'm'));
    assert.match(bom, new RegExp(`^# output: "${path.join(dir, 'new')}"$`, 'm'));
    assert.ok(!bom.includes(`- ${path.join(dir, 'made')}`) && !bom.includes(`${path.join(dir, 'new')}/f`), 'outputs are not copied, and what is under a directory the command made is not named again');
  });

  it('a script and its input in a /tmp working directory: read, so in the BOM; what it wrote there is an output', () => {
    const dir = work('/tmp');
    writeFileSync(path.join(dir, 'input.txt'), 'from /tmp\n');
    writeFileSync(path.join(dir, 'script.sh'), '#!/bin/sh\nsort -r input.txt > "$(mktemp)"\ncat input.txt | tee made.txt\n', { mode: 0o755 });
    const argv = ['./script.sh'];
    const t = trace(dir, ['-o', path.join(dir, 'traced.yaml'), '--', ...argv]);
    assert.equal(t.code, 0, t.stderr);
    const bom = readFileSync(path.join(dir, 'traced.yaml'), 'utf8');
    assert.match(bom, new RegExp(`^ {10}- ${dir}/script\\.sh {2}# exec, open$`, 'm'), 'the script, executed and read by its interpreter');
    assert.match(bom, new RegExp(`^ {10}- ${dir}/input\\.txt {2}# open, stat$`, 'm'));
    assert.match(bom, /^ {10}- \/usr\/bin\/dash {2}# interp$/m, 'its #! interpreter');
    assert.match(bom, new RegExp(`^# output: "${dir}/made\\.txt"$`, 'm'));
    const temporary = /^# output: "(\/tmp\/tmp\.\w+)"$/m.exec(bom);
    assert.ok(temporary, 'the temporary file mktemp made');
    rmSync(temporary[1]!, { force: true }); // outside the work directory: not removed with it
    assert.doesNotMatch(bom, /# left out:/);
    const image = build(dir, 'traced.yaml');
    const inImage = runIn(image, argv, dir);
    assert.equal(inImage.code, 0, inImage.stderr);
    assert.equal(inImage.stdout.toString(), 'from /tmp\n');
  });

  it('--merge of a BOM trace did not write: 253 before the command runs, the file untouched', () => {
    const dir = work();
    const redis = path.join(dir, 'redis.yaml');
    writeFileSync(redis, readFileSync(path.join(repo, 'examples/redis.yaml')));
    const before = readFileSync(redis);
    const r = trace(dir, ['--merge', redis, '-o', redis, '--', '/bin/sh', '-c', 'echo ran > marker']);
    assert.equal(r.code, 253);
    assert.match(r.stderr, /^occlum-bom: --merge .*redis\.yaml: not exactly as occlum-bom trace wrote it \(line 4: " {2}- target: \/bin"\); left untouched\n$/);
    assert.ok(!existsSync(path.join(dir, 'marker')), 'the command did not run');
    assert.deepEqual(readFileSync(redis), before);
    // A trace's own BOM, edited by hand, is refused the same way; the explanatory comment at its
    // top is trace's own (an earlier version's is taken: the data below it reads back).
    assert.equal(trace(dir, ['-o', 'own.yaml', '--', '/bin/true']).code, 0);
    const own = readFileSync(path.join(dir, 'own.yaml'), 'utf8');
    writeFileSync(path.join(dir, 'own.yaml'), own.replace(/^# Left out: .*$/m, '# Left out: /proc, /sys, /dev, /run, /tmp (the enclave has its own), and what the commands wrote (outputs).'));
    assert.equal(trace(dir, ['--merge', 'own.yaml', '-o', 'own.yaml', '--', '/bin/true']).code, 0);
    assert.equal(readFileSync(path.join(dir, 'own.yaml'), 'utf8'), own, 'merged with itself: the same text, with the comment of this version');
    writeFileSync(path.join(dir, 'own.yaml'), own.replace('targets:', 'targets:\n  - target: /extra'));
    const edited = trace(dir, ['--merge', 'own.yaml', '-o', 'own.yaml', '--', '/bin/true']);
    assert.equal(edited.code, 253);
    assert.match(edited.stderr, /not exactly as occlum-bom trace wrote it \(line \d+: " {2}- target: \/extra"\)/);
  });

  it('an output that cannot be written: 254 before the command runs', () => {
    const dir = work();
    for (const out of [path.join(dir, 'no/such/dir/x.yaml'), dir]) {
      const r = trace(dir, ['-o', out, '--', '/bin/sh', '-c', 'echo ran > marker']);
      assert.equal(r.code, 254, r.stderr);
      assert.match(r.stderr, /^occlum-bom: cannot write .*: (no such file or directory|is a directory)\n$/);
      assert.ok(!existsSync(path.join(dir, 'marker')), 'the command did not run');
    }
  });

  it('a command killed by a signal, --keep of nothing, devices, and a file from the home directory', () => {
    const dir = work();
    mkdirSync(path.join(dir, 'home'));
    writeFileSync(path.join(dir, 'home/.gitconfig'), '[user]\n');
    const r = trace(dir, ['-o', 'out.yaml', '--keep', 'absent', '--', '/bin/sh', '-c', 'cat "$HOME/.gitconfig" /dev/zero | head -c 1 >/dev/null; kill -TERM $$'], { HOME: path.join(dir, 'home') });
    assert.equal(r.code, 143, 'status 128 + SIGTERM');
    assert.match(r.stderr, /was killed by SIGTERM; the BOM holds what it used until then/);
    assert.match(r.stderr, new RegExp(`--keep ${dir}/absent: not there`));
    assert.doesNotMatch(r.stderr, /gone after it/);
    assert.match(r.stderr, new RegExp(`${dir}/home/\\.gitconfig: from your home directory ${dir}/home: it goes into the image`));
    const bom = readFileSync(path.join(dir, 'out.yaml'), 'utf8');
    assert.match(bom, /^# device: "\/dev\/null"\n# device: "\/dev\/zero"$/m);
    assert.match(bom, /^includes:\n {2}- base\.yaml$/m);
    assert.doesNotMatch(trace(dir, ['--no-base', '-o', '-', '--', '/bin/true']).stdout, /includes:/);
  });

  it('without strace: one line naming the package, exit status 3', () => {
    const dir = work();
    const r = run('occlum-bom', ['trace', '--', '/bin/true'], { cwd: dir, env: { PATH: dir } });
    assert.equal(r.code, 3);
    assert.equal(r.stderr, 'occlum-bom: trace needs strace, which is not on the PATH (Debian package: strace)\n');
  });
});
