import { httpWorkload } from './http.mjs';

export const { name, description, needs, cases } = httpWorkload({
  name: 'small',
  description: 'wrk keep-alive, 50 connections, 128-byte static file from nginx',
  id: 'small-keepalive',
  label: 'wrk keep-alive, 50 conns',
  headers: [],
});
