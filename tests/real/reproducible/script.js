// Run by QuickJS-NG's WASI reactor (qjs --std) in deterministic mode
// (tests/reproducible_real.py): everything a host varies run to run, printed, and a file
// written.
console.log("date", Date.now(), new Date().toISOString(), performance.now());
console.log("random", Math.random(), Math.random());
const [names, error] = os.readdir("/work");
console.log("readdir", JSON.stringify(names), error);
const [stat] = os.stat("/work/script.js");
console.log("stat", stat.ino, stat.dev, stat.mtime);
os.sleep(250);
console.log("after sleep", Date.now());
const out = std.open("/work/out.txt", "w");
out.puts(`written at ${Date.now()}\n`);
out.close();
