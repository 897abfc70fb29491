// Runs one WASI command under Node's node:wasi, once, in this process: the Node column of
// real_programs.py. Usage: node node_cli.mjs HOST::GUEST,... MODULE ARG...
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const [dirs, modulePath, ...args] = process.argv.slice(2);
const preopens = {};
for (const mapping of dirs.split(',').filter(Boolean)) {
  const [host, guest] = mapping.split('::');
  preopens[guest] = host;
}
const wasi = new WASI({ version: 'preview1', args, env: {}, preopens, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(modulePath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
