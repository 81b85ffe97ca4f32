// Evaluated by scomo_duktape.c before the agent bundle: ES2015+ built-ins that client code uses
// and Duktape 2.7 lacks (probed: typed-array slice/fill/indexOf, Array find/findIndex/fill/
// includes/from, Object.entries/values, String padStart/padEnd). Plain ES5; non-enumerable so
// for-in over arrays stays clean. Not polyfilled (the bundle must not use them): Map, Set,
// WeakMap, Promise, sticky/unicode RegExp flags.
(function () {
  function def(obj, name, fn) {
    if (obj && typeof obj[name] !== 'function') {
      Object.defineProperty(obj, name, { value: fn, writable: true, configurable: true, enumerable: false });
    }
  }
  function rel(i, len, dflt) {
    if (i === undefined) return dflt;
    i = Math.trunc(+i) || 0;
    return i < 0 ? Math.max(len + i, 0) : Math.min(i, len);
  }
  function fill(value, start, end) {
    var len = this.length >>> 0;
    var e = rel(end, len, len);
    for (var i = rel(start, len, 0); i < e; i++) this[i] = value;
    return this;
  }
  function indexOf(x, from) {
    var len = this.length >>> 0;
    for (var i = rel(from, len, 0); i < len; i++) if (this[i] === x) return i;
    return -1;
  }
  function lastIndexOf(x, from) {
    var len = this.length >>> 0;
    var i = from === undefined ? len - 1 : Math.min(rel(from, len, len - 1), len - 1);
    if (from !== undefined && +from < 0 && len + Math.trunc(+from) < 0) return -1;
    for (; i >= 0; i--) if (this[i] === x) return i;
    return -1;
  }
  function find(pred, thisArg) {
    for (var i = 0, len = this.length >>> 0; i < len; i++) if (pred.call(thisArg, this[i], i, this)) return this[i];
    return undefined;
  }
  function findIndex(pred, thisArg) {
    for (var i = 0, len = this.length >>> 0; i < len; i++) if (pred.call(thisArg, this[i], i, this)) return i;
    return -1;
  }
  function includes(x, from) {
    var len = this.length >>> 0;
    for (var i = rel(from, len, 0); i < len; i++) {
      var v = this[i];
      if (v === x || (v !== v && x !== x)) return true;
    }
    return false;
  }
  var typed = ['Uint8Array', 'Int8Array', 'Uint8ClampedArray', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array'];
  for (var t = 0; t < typed.length; t++) {
    var C = this[typed[t]];
    if (typeof C !== 'function') continue;
    var P = C.prototype;
    def(P, 'slice', function (start, end) {
      var len = this.length;
      var s = rel(start, len, 0);
      var e = rel(end, len, len);
      var out = new this.constructor(Math.max(e - s, 0));
      if (e > s) out.set(this.subarray(s, e));
      return out;
    });
    def(P, 'fill', fill);
    def(P, 'indexOf', indexOf);
    def(P, 'lastIndexOf', lastIndexOf);
    def(P, 'includes', includes);
    def(P, 'find', find);
    def(P, 'findIndex', findIndex);
    def(P, 'forEach', Array.prototype.forEach);
    def(P, 'join', Array.prototype.join);
    def(P, 'every', Array.prototype.every);
    def(P, 'some', Array.prototype.some);
    def(P, 'reduce', Array.prototype.reduce);
  }
  def(Array.prototype, 'fill', fill);
  def(Array.prototype, 'find', find);
  def(Array.prototype, 'findIndex', findIndex);
  def(Array.prototype, 'includes', includes);
  def(Array, 'from', function (src, map, thisArg) {
    var len = src.length >>> 0;
    var out = new Array(len);
    for (var i = 0; i < len; i++) out[i] = map ? map.call(thisArg, src[i], i) : src[i];
    return out;
  });
  def(Object, 'entries', function (o) {
    var ks = Object.keys(o), out = [];
    for (var i = 0; i < ks.length; i++) out.push([ks[i], o[ks[i]]]);
    return out;
  });
  def(Object, 'values', function (o) {
    var ks = Object.keys(o), out = [];
    for (var i = 0; i < ks.length; i++) out.push(o[ks[i]]);
    return out;
  });
  function pad(s, n, f, atStart) {
    s = String(s);
    f = f === undefined ? ' ' : String(f);
    n = n >>> 0;
    if (s.length >= n || f === '') return s;
    var p = '';
    while (p.length < n - s.length) p += f;
    p = p.slice(0, n - s.length);
    return atStart ? p + s : s + p;
  }
  def(String.prototype, 'padStart', function (n, f) { return pad(this, n, f, true); });
  def(String.prototype, 'padEnd', function (n, f) { return pad(this, n, f, false); });
}).call(this);
