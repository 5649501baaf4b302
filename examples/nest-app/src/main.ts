import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';

const app = await NestFactory.create<NestExpressApplication>(AppModule);
// Behind a load balancer, trust it so `req.ip` is the client, not the proxy.
if (process.env['TRUST_PROXY'] === '1') app.set('trust proxy', 1);
const port = Number(process.env['PORT'] ?? 3000);
await app.listen(port);
console.log(`chat API on http://127.0.0.1:${port}
  curl -i -H 'Authorization: Bearer sk-demo' -H 'Content-Type: application/json' \\
    -d '{"messages":[{"role":"user","content":"hello there"}],"max_tokens":50}' \\
    http://127.0.0.1:${port}/v1/chat/completions`);
