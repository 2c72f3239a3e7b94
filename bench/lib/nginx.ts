/** nginx as a gRPC proxy peer (PERF.md): one process, HTTP/2 in, grpc_pass with keepalive out. */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startChild, type Child } from './proc.js'

export const NGINX = '/usr/sbin/nginx'

export function nginxVersion (): string | null {
  if (!existsSync(NGINX)) return null
  // `nginx -v` prints to stderr.
  const r = spawnSync(NGINX, ['-v'], { encoding: 'utf8' })
  const m = /nginx\/([\w.]+)/.exec(`${r.stderr ?? ''}${r.stdout ?? ''}`)
  return m === null ? null : m[1]
}

/**
 * `master_process off` makes the single process do the work, so the pid we spawn is the one
 * whose CPU we measure (the PERF.md "1 worker").
 */
export function nginxConfig (prefix: string, port: number, upstreamPort: number): string {
  return `worker_processes 1;
master_process off;
daemon off;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'tmp', 'body')};
  proxy_temp_path ${join(prefix, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(prefix, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(prefix, 'tmp', 'scgi')};
  upstream bench_up {
    server 127.0.0.1:${upstreamPort};
    keepalive 512;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port} http2;
    keepalive_requests 10000000;
    http2_max_concurrent_streams 1000;
    location / { grpc_pass grpc://bench_up; }
  }
}
`
}

export function startNginx (prefix: string, port: number, upstreamPort: number): Child {
  mkdirSync(join(prefix, 'tmp'), { recursive: true })
  const conf = join(prefix, 'nginx.conf')
  writeFileSync(conf, nginxConfig(prefix, port, upstreamPort))
  return startChild('nginx', NGINX, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')], prefix)
}
