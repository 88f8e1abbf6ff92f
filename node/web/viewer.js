// A slice viewer for the NIfTI-1 volume GET /v1/series/{lfn}?format=nifti returns: one plane at
// a time (axial, coronal, sagittal in voxel axes), a slice slider, the wheel and arrow keys to
// scroll, window/level by sliders or by dragging on the image. The volume stays in memory only.

const readers = {
  2: (v, o) => v.getUint8(o), 4: (v, o) => v.getInt16(o, true), 8: (v, o) => v.getInt32(o, true),
  16: (v, o) => v.getFloat32(o, true), 64: (v, o) => v.getFloat64(o, true), 256: (v, o) => v.getInt8(o),
  512: (v, o) => v.getUint16(o, true),
};
const sizes = { 2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2 };

// {nx, ny, nz, spacing: [dx, dy, dz] mm, voxels: Float32Array, min, max}; throws on anything but a little-endian NIfTI-1.
export function parse_nifti(buffer) {
  const v = new DataView(buffer);
  if (buffer.byteLength < 352 || v.getInt32(0, true) !== 348) throw new Error('not a little-endian NIfTI-1 file');
  const magic = String.fromCharCode(v.getUint8(344), v.getUint8(345), v.getUint8(346));
  if (magic !== 'n+1') throw new Error('not a single-file NIfTI-1 volume');
  const dims = [1, 2, 3].map((i) => Math.max(1, v.getInt16(40 + 2 * i, true)));
  const type = v.getInt16(70, true);
  if (!readers[type]) throw new Error(`NIfTI data type ${type} is not shown here`);
  const offset = Math.floor(v.getFloat32(108, true));
  let slope = v.getFloat32(112, true);
  const inter = v.getFloat32(116, true);
  if (!slope || !Number.isFinite(slope)) slope = 1;
  const [nx, ny, nz] = dims;
  const spacing = [1, 2, 3].map((i) => Math.abs(v.getFloat32(76 + 4 * i, true)) || 1);  // pixdim, mm
  const n = nx * ny * nz;
  if (offset + n * sizes[type] > buffer.byteLength) throw new Error('the volume is shorter than its header says');
  const voxels = new Float32Array(n);
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = readers[type](v, offset + i * sizes[type]) * slope + (Number.isFinite(inter) ? inter : 0);
    voxels[i] = x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { nx, ny, nz, spacing, voxels, min, max };
}

export class slice_viewer {
  constructor(elements) {
    this.e = elements;  // {canvas, plane, slice, slice_out, window, level}
    this.volume = null;
    const redraw = () => this.draw();
    this.e.plane.addEventListener('change', () => this.reset_slice());
    for (const k of ['slice', 'window', 'level']) this.e[k].addEventListener('input', redraw);
    this.e.canvas.addEventListener('wheel', (ev) => { ev.preventDefault(); this.step(Math.sign(ev.deltaY)); }, { passive: false });
    this.e.canvas.addEventListener('keydown', (ev) => {
      const moves = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 };
      if (moves[ev.key]) { ev.preventDefault(); this.step(moves[ev.key]); }
    });
    let drag = null;
    this.e.canvas.addEventListener('pointerdown', (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, w: +this.e.window.value, l: +this.e.level.value };
      this.e.canvas.setPointerCapture(ev.pointerId);
    });
    this.e.canvas.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      this.e.window.value = Math.min(100, Math.max(1, drag.w + (ev.clientX - drag.x) / 4));
      this.e.level.value = Math.min(100, Math.max(0, drag.l - (ev.clientY - drag.y) / 4));
      this.draw();
    });
    this.e.canvas.addEventListener('pointerup', () => { drag = null; });
  }

  show(volume) {
    this.volume = volume;
    this.e.window.value = 100;
    this.e.level.value = 50;
    this.reset_slice();
  }

  // [width, height, depth] of the plane in voxels, and the width and height of a voxel in mm.
  extent() {
    const { nx, ny, nz, spacing: [dx, dy, dz] } = this.volume;
    return { axial: [nx, ny, nz, dx, dy], coronal: [nx, nz, ny, dx, dz], sagittal: [ny, nz, nx, dy, dz] }[this.e.plane.value];
  }

  reset_slice() {
    const [, , depth] = this.extent();
    this.e.slice.max = depth - 1;
    this.e.slice.value = Math.floor(depth / 2);
    this.draw();
  }

  step(by) {
    this.e.slice.value = Math.min(+this.e.slice.max, Math.max(0, +this.e.slice.value + by));
    this.draw();
  }

  voxel(u, v, s) {
    const { nx, ny, voxels } = this.volume;
    const [x, y, z] = { axial: [u, v, s], coronal: [u, s, v], sagittal: [s, u, v] }[this.e.plane.value];
    return voxels[x + nx * (y + ny * z)];
  }

  draw() {
    if (!this.volume) return;
    const [w, h, depth, du, dv] = this.extent();
    const s = +this.e.slice.value;
    this.e.slice_out.value = `${s + 1} / ${depth}`;
    const range = this.volume.max - this.volume.min || 1;
    const width = (range * +this.e.window.value) / 100;
    const center = this.volume.min + (range * +this.e.level.value) / 100;
    const low = center - width / 2;
    const canvas = this.e.canvas;
    canvas.width = w;
    canvas.height = h;
    canvas.style.aspectRatio = `${w * du} / ${h * dv}`;  // thick slices drawn at their true height
    const ctx = canvas.getContext('2d');
    const image = ctx.createImageData(w, h);
    for (let v = 0; v < h; v++) {
      for (let u = 0; u < w; u++) {
        const g = Math.max(0, Math.min(255, ((this.voxel(u, h - 1 - v, s) - low) / width) * 255));
        const i = 4 * (v * w + u);
        image.data[i] = image.data[i + 1] = image.data[i + 2] = g;
        image.data[i + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
  }
}
