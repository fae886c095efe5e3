import { httpWorkload } from './http.mjs';

export const { name, description, needs, cases } = httpWorkload({
  name: 'churn',
  description: "wrk with 'Connection: close', 50 connections: one TCP connection per request",
  id: 'churn-close',
  label: 'wrk Connection: close, 50 conns',
  headers: ['Connection: close'],
});
