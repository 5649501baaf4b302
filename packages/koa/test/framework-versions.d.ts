// `koa2` is an npm alias of koa@2, installed beside koa@3 so the tests run on
// both; it has the same API as far as these tests go.
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
