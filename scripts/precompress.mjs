// Precompress the site's text and WASM files: FILE.br (brotli) and FILE.gz
// (gzip) beside each, so the server sends them as they are instead of
// compressing on every request.
//   node scripts/precompress.mjs DIR [--best]
// --best: brotli quality 11 (release; slow on a debug-sized WASM), else 5.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const [dir, flag] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/precompress.mjs DIR [--best]');
  process.exit(2);
}
const quality = flag === '--best' ? 11 : 5;
const worth = /\.(js|wasm|css|svg|json|html|txt|webmanifest)$/;

const walk = (d) => readdirSync(d).flatMap((name) => {
  const path = join(d, name);
  return statSync(path).isDirectory() ? walk(path) : [path];
});

let raw = 0, br = 0, gz = 0;
for (const path of walk(dir).filter((p) => worth.test(p))) {
  const bytes = readFileSync(path);
  const b = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: quality,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  const g = gzipSync(bytes, { level: 9 });
  writeFileSync(`${path}.br`, b);
  writeFileSync(`${path}.gz`, g);
  raw += bytes.length; br += b.length; gz += g.length;
}
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.log(`precompressed ${kib(raw)}: brotli ${kib(br)}, gzip ${kib(gz)}`);
