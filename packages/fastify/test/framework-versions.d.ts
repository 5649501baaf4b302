// `fastify4` is an npm alias of fastify@4, installed beside fastify@5 so the
// tests run on both; it has the same API as far as these tests go.
declare module 'fastify4' {
  import Fastify from 'fastify';
  export default Fastify;
}
