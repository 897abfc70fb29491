// Runs one WASI module several times under Node's node:wasi and prints one JSON line per run:
// {"exit": code, "host_ns": instantiate+start time, "report": what the guest wrote on stderr}.
// Usage: node node_host.mjs MODULE.wasm REPEATS ARG...
// The module is compiled once, as the Python hosts do, so host_ns is set-up plus run time.
import { closeSync, openSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';

const [modulePath, repeatsText, ...guestArgs] = process.argv.slice(2);
const module = await WebAssembly.compile(readFileSync(modulePath));
const scratch = mkdtempSync(join(tmpdir(), 'bench-node-'));
const reportPath = join(scratch, 'stderr');

for (let run = 0; run < Number(repeatsText); run++) {
  const stdout = openSync('/dev/null', 'w');
  const stderr = openSync(reportPath, 'w');
  const started = process.hrtime.bigint();
  const wasi = new WASI({
    version: 'preview1', args: ['bench', ...guestArgs], env: {}, returnOnExit: true,
    stdout, stderr,
  });
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  const exit = wasi.start(instance);
  const hostNs = process.hrtime.bigint() - started;
  closeSync(stdout);
  closeSync(stderr);
  const report = readFileSync(reportPath, 'utf8');
  console.log(JSON.stringify({ exit, host_ns: Number(hostNs), report }));
}
rmSync(scratch, { recursive: true });
