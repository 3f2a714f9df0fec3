// Packs the default training photos (models/photos/*.jpg) into one file for the npm package:
// safetensors holding each JPEG's bytes as a uint8 tensor named by its file name, with the
// format tag and a pointer to the sources in its metadata. One file, so bundlers copy it from
// a single `new URL("./photos.safetensors", import.meta.url)` and the package checks one sha256.
//
//     node scripts/pack-photos.mjs models/photos pkg/photos.safetensors
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  console.error("usage: node scripts/pack-photos.mjs PHOTO_DIR OUT.safetensors");
  process.exit(2);
}
// Without the photos (their set-up failed), an empty file: the package still builds (bundlers
// need the file its code names) and a run without `images` says there are none.
const names = existsSync(dir) ? readdirSync(dir).filter((n) => /\.jpe?g$/i.test(n)).sort() : [];
if (names.length === 0) console.warn(`pack-photos: no JPEG photos in ${dir}; writing an empty photo file`);
const header = {
  __metadata__: {
    format: "webgpu-style-transfer/1",
    family: "photos",
    photos: String(names.length),
    sources: "photos/SOURCES.md beside this file: package, version, author and licence of every photo",
  },
};
const blobs = [];
let offset = 0;
for (const name of names) {
  const bytes = readFileSync(join(dir, name));
  header[name] = { dtype: "U8", shape: [bytes.length], data_offsets: [offset, offset + bytes.length] };
  blobs.push(bytes);
  offset += bytes.length;
}
// The header is padded with spaces to a multiple of 8 bytes, as the format asks.
let json = JSON.stringify(header);
json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
const length = Buffer.alloc(8);
length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
writeFileSync(out, Buffer.concat([length, Buffer.from(json), ...blobs]));
console.log(`pack-photos: ${names.length} photos, ${((8 + Buffer.byteLength(json) + offset) / 1e6).toFixed(1)} MB -> ${out}`);
