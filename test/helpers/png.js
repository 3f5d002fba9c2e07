// A minimal PNG reader (8-bit RGB/RGBA, not interlaced: what Chromium's --screenshot writes), so a
// test can look at the pixels the browser rendered without an image library.
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

export function readPng(file) {
  const data = readFileSync(file);
  let at = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat = [];
  while (at < data.length) {
    const length = data.readUInt32BE(at);
    const type = data.toString('latin1', at + 4, at + 8);
    const body = data.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      if (body[8] !== 8 || body[12] !== 0) throw new Error('only 8-bit, non-interlaced PNG');
      channels = { 2: 3, 6: 4 }[body[9]];
      if (!channels) throw new Error(`PNG colour type ${body[9]} not supported`);
    } else if (type === 'IDAT') idat.push(body);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x];
      const left = x >= channels ? pixels[y * stride + x - channels] : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const upLeft = y > 0 && x >= channels ? pixels[(y - 1) * stride + x - channels] : 0;
      const p = left + up - upLeft;
      const pa = Math.abs(p - left), pb = Math.abs(p - up), pc = Math.abs(p - upLeft);
      const paeth = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      const predictor = [0, left, up, (left + up) >> 1, paeth][filter];
      pixels[y * stride + x] = (value + predictor) & 0xff;
    }
  }
  return { width, height, rgb: (x, y) => [pixels[y * stride + x * channels], pixels[y * stride + x * channels + 1], pixels[y * stride + x * channels + 2]] };
}

/** Connected regions (4-neighbour) of pixels within `tolerance` of `hex`: one per rendered mark. */
export function countBlobs(image, hex, tolerance = 24) {
  const target = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const near = (x, y) => {
    const [r, g, b] = image.rgb(x, y);
    return Math.abs(r - target[0]) + Math.abs(g - target[1]) + Math.abs(b - target[2]) <= tolerance;
  };
  const seen = new Uint8Array(image.width * image.height);
  const blobs = [];
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (seen[y * image.width + x] || !near(x, y)) continue;
      const stack = [[x, y]];
      seen[y * image.width + x] = 1;
      let size = 0, sumY = 0;
      while (stack.length) {
        const [px, py] = stack.pop();
        size += 1;
        sumY += py;
        for (const [nx, ny] of [[px + 1, py], [px - 1, py], [px, py + 1], [px, py - 1]]) {
          if (nx < 0 || ny < 0 || nx >= image.width || ny >= image.height || seen[ny * image.width + nx] || !near(nx, ny)) continue;
          seen[ny * image.width + nx] = 1;
          stack.push([nx, ny]);
        }
      }
      if (size >= 4) blobs.push({ x, y: Math.round(sumY / size), size });
    }
  }
  return blobs;
}
