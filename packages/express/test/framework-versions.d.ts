// `express4` is an npm alias of express@4, installed beside express@5 so the
// tests run on both; it has the same API as far as these tests go.
declare module 'express4' {
  import express from 'express';
  export default express;
}
