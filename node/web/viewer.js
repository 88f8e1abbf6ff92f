// A viewer for the NIfTI-1 volume GET /v1/series/{lfn}?format=nifti returns: the three
// orthogonal planes side by side (axial, coronal, sagittal in voxel axes), each with its slice
// slider; the wheel and arrow keys scroll the plane under focus; window/level by sliders or by
// dragging on any plane. The volume stays in memory only.

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

// One plane: its canvas, slice slider and slice readout; drawn with the viewer's window/level.
class plane_view {
  constructor(viewer, plane, { canvas, slice, slice_out }) {
    Object.assign(this, { viewer, plane, canvas, slice, slice_out });
    slice.addEventListener('input', () => this.draw());
    canvas.addEventListener('wheel', (ev) => { ev.preventDefault(); this.step(Math.sign(ev.deltaY)); }, { passive: false });
    canvas.addEventListener('keydown', (ev) => {
      const moves = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 };
      if (moves[ev.key]) { ev.preventDefault(); this.step(moves[ev.key]); }
    });
  }

  // [width, height, depth] of the plane in voxels, and the width and height of a voxel in mm.
  extent() {
    const { nx, ny, nz, spacing: [dx, dy, dz] } = this.viewer.volume;
    return { axial: [nx, ny, nz, dx, dy], coronal: [nx, nz, ny, dx, dz], sagittal: [ny, nz, nx, dy, dz] }[this.plane];
  }

  reset() {
    const [, , depth] = this.extent();
    this.slice.max = depth - 1;
    this.slice.value = Math.floor(depth / 2);
    this.draw();
  }

  step(by) {
    this.slice.value = Math.min(+this.slice.max, Math.max(0, +this.slice.value + by));
    this.draw();
  }

  voxel(u, v, s) {
    const { nx, ny, voxels } = this.viewer.volume;
    const [x, y, z] = { axial: [u, v, s], coronal: [u, s, v], sagittal: [s, u, v] }[this.plane];
    return voxels[x + nx * (y + ny * z)];
  }

  draw() {
    if (!this.viewer.volume) return;
    const [w, h, depth, du, dv] = this.extent();
    const s = +this.slice.value;
    this.slice_out.value = `${s + 1} / ${depth}`;
    const { low, width } = this.viewer.window_range();
    this.canvas.width = w;
    this.canvas.height = h;
    this.canvas.style.aspectRatio = `${w * du} / ${h * dv}`;  // thick slices drawn at their true height
    const ctx = this.canvas.getContext('2d');
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

// elements: {window, level, planes: {axial|coronal|sagittal: {canvas, slice, slice_out}}}.
export class volume_viewer {
  constructor({ window, level, planes }) {
    Object.assign(this, { window, level, volume: null });
    this.planes = Object.entries(planes).map(([name, e]) => new plane_view(this, name, e));
    const redraw = () => this.draw();
    window.addEventListener('input', redraw);
    level.addEventListener('input', redraw);
    for (const { canvas } of this.planes) {
      let drag = null;
      canvas.addEventListener('pointerdown', (ev) => {
        drag = { x: ev.clientX, y: ev.clientY, w: +window.value, l: +level.value };
        canvas.setPointerCapture(ev.pointerId);
      });
      canvas.addEventListener('pointermove', (ev) => {
        if (!drag) return;
        window.value = Math.min(100, Math.max(1, drag.w + (ev.clientX - drag.x) / 4));
        level.value = Math.min(100, Math.max(0, drag.l - (ev.clientY - drag.y) / 4));
        this.draw();
      });
      canvas.addEventListener('pointerup', () => { drag = null; });
    }
  }

  show(volume) {
    this.volume = volume;
    this.window.value = 100;
    this.level.value = 50;
    for (const p of this.planes) p.reset();
  }

  // The grey ramp's lower end and width, in voxel units, from the window and level sliders (%).
  window_range() {
    const range = this.volume.max - this.volume.min || 1;
    const width = (range * +this.window.value) / 100;
    const center = this.volume.min + (range * +this.level.value) / 100;
    return { low: center - width / 2, width };
  }

  draw() {
    for (const p of this.planes) p.draw();
  }
}
