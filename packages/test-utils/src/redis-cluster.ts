import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './dynamodb-process.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/** A Redis Cluster of masters started for a test (no replicas, no persistence). */
export interface RedisCluster {
  /** Every node, the startup nodes of an ioredis `Cluster`. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** Stops every node and removes their cluster config files. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Masters (default 3, the least `redis-cli --cluster create` accepts). */
  masters?: number;
  /** Longest wait for every node to report `cluster_state:ok`, in ms (default 20 000). */
  readyTimeoutMs?: number;
}

/**
 * Starts `masters` redis-server processes with cluster mode on, on free ports
 * (each with a free cluster bus port, so ports above 55535 work), joins them
 * with `redis-cli --cluster create`, and waits until every node reports
 * `cluster_state:ok`. Needs `redis-server` and `redis-cli` (7+) on the PATH.
 *
 * @example
 * const cluster = await startRedisCluster();
 * const client = new Cluster([...cluster.nodes]);
 * try { ... } finally { await client.quit(); await cluster.stop(); }
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-cluster-'));
  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < (options.masters ?? 3); index += 1) {
      const busPort = await freePort();
      servers.push(
        await startRedisServer({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            join(dir, `nodes-${index}.conf`),
            '--dir',
            dir,
          ],
        }),
      );
    }
    await promisify(execFile)('redis-cli', [
      '--cluster',
      'create',
      ...servers.map((server) => `${server.host}:${server.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await Promise.all(servers.map((server) => clusterReady(server, options.readyTimeoutMs ?? 20_000)));
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: servers.map(({ host, port }) => ({ host, port })), stop };
}

/** Resolves once `server` reports `cluster_state:ok` and knows every slot's owner. */
async function clusterReady(server: RedisServer, timeoutMs: number): Promise<void> {
  const client = new Redis(server.port, server.host, { maxRetriesPerRequest: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const info = await client.cluster('INFO');
      if (/cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info)) return;
      if (Date.now() > deadline) throw new Error(`Cluster node ${server.port} not ready: ${info}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    client.disconnect();
  }
}
