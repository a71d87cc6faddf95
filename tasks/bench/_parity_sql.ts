/**
 * The scripted changes of the parity run (`cdc_parity.ts`): a table of many
 * types under `REPLICA IDENTITY FULL` (full `before` images, TOAST filled from
 * the old tuple) and a plain table with the default identity (key-only
 * `before` on deletes, a primary-key change), with a snapshot, inserts,
 * updates, deletes and a truncate.
 *
 * @module
 */

/** Captured tables of schema `cdcparity`, in topic order. */
export const PARITY_TABLES = ["types", "plain"] as const;

const COLUMNS = `id, n_scaled, n_free, n_nan, m, ts, ts3, tstz, tstz3, d, t,
  ttz, iv, u, j, jb, b, ia, ta, ip, net, mac, bt, vb, e, dom, r, tr, x, bo,
  i2, i8, f4, f8, c, vc, txt, na`;

/** Schema, types and the seed rows the snapshot reads. */
export const PARITY_SETUP = `
CREATE SCHEMA cdcparity;
CREATE TYPE cdcparity.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN cdcparity.posint AS integer CHECK (VALUE > 0);
CREATE TABLE cdcparity.types (
  id integer PRIMARY KEY, n_scaled numeric(12, 3), n_free numeric,
  n_nan numeric(10, 2), m money, ts timestamp, ts3 timestamp(3),
  tstz timestamptz, tstz3 timestamptz(3), d date, t time, ttz timetz,
  iv interval, u uuid, j json, jb jsonb, b bytea, ia integer[], ta text[],
  ip inet, net cidr, mac macaddr, bt bit(8), vb varbit(16), e cdcparity.mood,
  dom cdcparity.posint, r int4range, tr tstzrange, x xml, bo boolean,
  i2 smallint, i8 bigint, f4 real, f8 double precision, c char(3),
  vc varchar(20), txt text, na numeric[]);
ALTER TABLE cdcparity.types REPLICA IDENTITY FULL;
CREATE TABLE cdcparity.plain (id integer PRIMARY KEY, name text, qty integer);
INSERT INTO cdcparity.types (${COLUMNS}) VALUES
  (1, 12345.678, 3.14159265358979323846, 99.5, 1234.56,
   '2024-02-29 13:45:30.123456', '2024-02-29 13:45:30.12',
   '2024-02-29 13:45:30.5+02', '2024-01-01 00:00:00.12+00', '2024-02-29',
   '13:45:30.25', '12:30:05.5+02', '1 year 2 mons 3 days 04:05:06.789',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1, "b": [1, 2]}',
   '{"a": 1, "b": [1, 2]}', '\\x00ff10', '{1,NULL,3}', '{"a b","c,d",NULL}',
   '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'10100101', B'101',
   'happy', 42, '[1,10)', '[2024-01-01 00:00+00,2024-02-01 00:00+00)',
   '<a>1</a>', true, -32768, 9007199254740993, 1.5, 2.718281828459045, 'ab',
   'hello', 'world', '{1.5,NULL,-2}'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL);
INSERT INTO cdcparity.plain VALUES (1, 'one', 1), (2, 'two', 2);
`;

/** The streamed changes, one transaction per entry; ends with plain id 999. */
export const PARITY_SCRIPT: readonly string[] = [
  // Special values: ±infinity, NaN, extremes, fractional seconds.
  `INSERT INTO cdcparity.types (${COLUMNS}) VALUES
  (3, -0.001, 'NaN', 'NaN', -0.99, 'infinity', '-infinity', 'infinity',
   '-infinity', 'infinity', '24:00:00', '00:00:00+00',
   '-1 days -02:00:00.000001', '00000000-0000-0000-0000-000000000000', '[]',
   '{}', '\\x', '{}', '{}', '::1', '::/0', 'ff:ff:ff:ff:ff:ff', B'00000000',
   B'', 'sad', 1, 'empty', '(,)', '<x/>', false, 32767,
   -9223372036854775808, 'NaN', 'Infinity', '', '', '', '{NaN}'),
  (4, 0, 1e-20, -12.34, 0, '1969-12-31 23:59:59.999999',
   '2000-01-01 00:00:00.001', '2024-05-06 07:08:09.000001+00',
   '2024-05-06 07:08:09.1+05:30', '-infinity', '00:00:00.000001',
   '23:59:59.999999-11', '1 mon', '12345678-1234-1234-1234-123456789abc',
   '"s"', 'null', '\\xdeadbeef', '{{1,2},{3,4}}', '{"x\\"y","NULL"}',
   '10.1.2.3', '192.168.0.0/16', '00:00:00:00:00:00', B'11111111',
   B'1111000011110000', 'ok', 7, '[5,6]', '[2024-01-01 00:00+00,)',
   '<r a="1">t</r>', true, 0, 1, -0.5, -1e-300, 'abc', 'x', 'y', '{0.10}')`,
  // Timestamps with zero and full fractions, BC and far-future dates.
  `INSERT INTO cdcparity.types (id, ts, tstz, d, ttz, n_free) VALUES
  (5, '0044-03-15 12:00:00 BC', '2024-01-01 00:00:00+00', '0001-01-01 BC',
   '10:00:00.1+00', 2.500),
  (7, '-infinity', '1970-01-01 00:00:00+00', '1970-01-01', '00:00:00+00',
   100),
  (6, '9999-12-31 23:59:59.999999', '2262-04-11 23:47:16.854775+00',
   '5874897-12-31', '10:00:00-00:30', -0.0)`,
  // Several changes in one transaction (transaction block orders).
  `BEGIN;
   UPDATE cdcparity.types SET n_scaled = 1.5, e = 'ok', ia = '{7}' WHERE id = 1;
   INSERT INTO cdcparity.plain VALUES (3, 'three', 3);
   UPDATE cdcparity.plain SET qty = 20 WHERE id = 2;
   COMMIT`,
  // A TOASTed text, then an update that leaves it unchanged.
  `UPDATE cdcparity.types SET txt =
     (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g)
   WHERE id = 4`,
  `UPDATE cdcparity.types SET i2 = 5 WHERE id = 4`,
  `UPDATE cdcparity.types SET ts3 = 'infinity', bt = B'00000001', vb = B'1'
   WHERE id = 5`,
  `DELETE FROM cdcparity.types WHERE id = 2`,
  `UPDATE cdcparity.plain SET id = 10 WHERE id = 1`,
  `DELETE FROM cdcparity.plain WHERE id = 3`,
  `TRUNCATE cdcparity.types, cdcparity.plain`,
  `INSERT INTO cdcparity.plain VALUES (999, 'marker', 0)`,
];
