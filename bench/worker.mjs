// Runs one benchmark case in its own process (fresh JIT, fresh heap) and prints its result as one
// JSON line prefixed with @@RESULT@@. Usage: node bench/worker.mjs <case> '<json options>'
const [name, json] = process.argv.slice(2);
const mod = await import(`./cases/${name}.mjs`);
const opts = json ? JSON.parse(json) : {};
const res = await mod.run(opts);
process.stdout.write(`@@RESULT@@${JSON.stringify(res)}\n`);
