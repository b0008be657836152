// Pointer, wheel and keyboard input on the board canvas, turned into camera moves and taps.
//
// One finger or the mouse drags to pan; two fingers pinch to zoom around their centre (and pan
// with it); the wheel zooms around the cursor. A press that moved more than a few pixels, or
// that was part of a pinch, is a drag and never a tap, so panning never paints.

/** CSS pixels a press may move and still be a tap (a finger wobbles more than a mouse). */
const TAP_SLOP = { mouse: 5, pen: 8, touch: 12 };
/** Wheel zoom factor per pixel of scroll. */
const WHEEL_ZOOM = 0.0025;
const LINE_PIXELS = 16;
const PINCH_WHEEL_BOOST = 4;
const KEY_PAN_FRACTION = 0.15;
/** Zoom factor of a +/- button or key press. */
export const ZOOM_STEP = 2;

export class Input {
  /**
   * `camera()` returns the current camera (or null before a board is known); `changed()` is
   * called after every camera move; `tap(sx, sy, pointerType)` for a tap; `hover(sx, sy|null)`.
   */
  constructor(element, { camera, changed, tap, hover }) {
    this.element = element;
    this.camera = camera;
    this.changed = changed;
    this.tap = tap;
    this.hover = hover;
    /** pointerId → {x, y} of the pointers down. */
    this.pointers = new Map();
    this.press = null;
    this.pinch = null;
    /** Where the mouse is over the board (CSS pixels), so hover follows keyboard moves too. */
    this.lastMouse = null;

    element.addEventListener('pointerdown', (e) => this.down(e));
    element.addEventListener('pointermove', (e) => this.move(e));
    element.addEventListener('pointerup', (e) => this.up(e, true));
    element.addEventListener('pointercancel', (e) => this.up(e, false));
    element.addEventListener('lostpointercapture', (e) => this.up(e, false));
    element.addEventListener('pointerleave', (e) => {
      if (e.pointerType !== 'mouse') return;
      this.lastMouse = null;
      this.hover(null);
    });
    element.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    element.addEventListener('contextmenu', (e) => e.preventDefault());
    window.addEventListener('keydown', (e) => this.key(e));
  }

  local(e) {
    const rect = this.element.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  down(e) {
    if (!this.camera()) return;
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    this.element.setPointerCapture?.(e.pointerId);
    const p = this.local(e);
    this.pointers.set(e.pointerId, p);
    if (this.pointers.size === 1) {
      this.press = { id: e.pointerId, startX: p.x, startY: p.y, lastX: p.x, lastY: p.y, moved: false, type: e.pointerType };
    } else if (this.pointers.size === 2) {
      // A second finger turns the gesture into a pinch; nothing of it will paint.
      if (this.press) this.press.moved = true;
      this.startPinch();
    }
  }

  startPinch() {
    const [a, b] = [...this.pointers.values()];
    this.pinch = {
      distance: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)),
      scale: this.camera().scale,
      anchor: this.camera().toBoard((a.x + b.x) / 2, (a.y + b.y) / 2),
    };
  }

  move(e) {
    const camera = this.camera();
    if (!camera) return;
    const p = this.local(e);
    if (e.pointerType === 'mouse') {
      this.lastMouse = p;
      this.hover(p.x, p.y);
    }
    if (!this.pointers.has(e.pointerId)) return;
    this.pointers.set(e.pointerId, p);
    if (this.pinch && this.pointers.size >= 2) {
      const [a, b] = [...this.pointers.values()];
      const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      const distance = Math.max(1, Math.hypot(a.x - b.x, a.y - b.y));
      // The board point first under the fingers' centre stays under it: zoom and pan at once.
      camera.scale = this.pinch.scale * (distance / this.pinch.distance);
      camera.clamp();
      camera.x = this.pinch.anchor.x - (mid.x - camera.screen.width / 2) / camera.scale;
      camera.y = this.pinch.anchor.y - (mid.y - camera.screen.height / 2) / camera.scale;
      camera.clamp();
      this.changed();
      return;
    }
    const press = this.press;
    if (!press || press.id !== e.pointerId) return;
    if (!press.moved) {
      const slop = TAP_SLOP[press.type] ?? TAP_SLOP.touch;
      if (Math.hypot(p.x - press.startX, p.y - press.startY) <= slop) return;
      press.moved = true;
    }
    camera.panBy(p.x - press.lastX, p.y - press.lastY);
    press.lastX = p.x;
    press.lastY = p.y;
    this.changed();
  }

  up(e, completed) {
    if (!this.pointers.has(e.pointerId)) return;
    this.pointers.delete(e.pointerId);
    const press = this.press;
    if (this.pointers.size >= 2) {
      // Still a pinch, maybe with other fingers: restart it from where they are now.
      this.startPinch();
      return;
    }
    if (this.pointers.size === 1) {
      // One finger left after a pinch: it pans from where it is now.
      const [id, p] = [...this.pointers.entries()][0];
      this.pinch = null;
      this.press = { id, startX: p.x, startY: p.y, lastX: p.x, lastY: p.y, moved: true, type: e.pointerType };
      return;
    }
    this.pinch = null;
    this.press = null;
    if (completed && press && press.id === e.pointerId && !press.moved) {
      this.tap(press.startX, press.startY, press.type);
    }
  }

  wheel(e) {
    const camera = this.camera();
    if (!camera) return;
    e.preventDefault();
    const unit = e.deltaMode === 1 ? LINE_PIXELS : e.deltaMode === 2 ? camera.screen.height : 1;
    const p = this.local(e);
    // A trackpad pinch arrives as a wheel with ctrlKey and small deltas: zoom faster for it.
    const rate = e.ctrlKey ? WHEEL_ZOOM * PINCH_WHEEL_BOOST : WHEEL_ZOOM;
    camera.zoomAt(p.x, p.y, camera.scale * Math.exp(-e.deltaY * unit * rate));
    this.changed();
  }

  /** Zooms by `factor` around the screen centre (buttons and keys). */
  zoomBy(factor) {
    const camera = this.camera();
    if (!camera) return;
    camera.zoomAt(camera.screen.width / 2, camera.screen.height / 2, camera.scale * factor);
    this.changed();
  }

  key(e) {
    const camera = this.camera();
    if (!camera || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target instanceof HTMLInputElement) return;
    const step = KEY_PAN_FRACTION * Math.min(camera.screen.width, camera.screen.height);
    switch (e.key) {
      case '+':
      case '=':
        return this.zoomBy(ZOOM_STEP);
      case '-':
      case '_':
        return this.zoomBy(1 / ZOOM_STEP);
      case 'ArrowLeft':
        camera.panBy(step, 0);
        break;
      case 'ArrowRight':
        camera.panBy(-step, 0);
        break;
      case 'ArrowUp':
        camera.panBy(0, step);
        break;
      case 'ArrowDown':
        camera.panBy(0, -step);
        break;
      case '0':
        camera.fit();
        break;
      default:
        return;
    }
    e.preventDefault();
    this.changed();
  }
}
