-- Flows for scripts/bench-dashboard, generated on the server (INSERT ... SELECT
-- FROM numbers), so they pass through the rollups' materialized views as the
-- collector's inserts do. Placeholders in braces are filled by the script.
--
-- Shape: {vms} VMs in 8 zones on {hosts} hosts; {convs} conversations (client
-- VM, server VM, service port among 443/8443/5432/6379/22/53/9200/3306), each
-- flow alternately a request and its reply, observed at the client's host
-- (ERSPAN II), 30 % of conversations on one host; start times rise with the
-- row number over {span_ms} ms (the order a collector inserts in), so each
-- conversation has a flow every {span_ms} * {convs} / {rows} ms. Four zone
-- pairs are violations. {random} = 1 makes every flow its own random VM pair
-- and port: the worst case, where no rollup can merge anything.
INSERT INTO {db}.flows (date, start, start_ms, end, end_ms, received, dataset, exporter, source_id, observer, encap, session, vlan, vni, src_addr, dst_addr, src_port, dst_port, proto, tos, tcp_flags, icmp, src_mac, dst_mac, packets, bytes, sampling, src_vm, dst_vm, src_host, dst_host, src_zone, dst_zone, same_host, reply, verdict, rule, severity, policy_revision)
SELECT toDate(st) AS date, st AS start, st_ms AS start_ms, toDateTime(en_ms / 1000) AS end, en_ms AS end_ms, st AS received,
  'live' AS dataset, toFixedString(IPv6StringToNum(concat('::ffff:198.18.', toString(intDiv(obs_h, 250)), '.', toString(obs_h % 250 + 1))), 16) AS exporter,
  toUInt32(obs_h + 1) AS source_id, concat('esx-', toString(obs_h)) AS observer, 'erspan2' AS encap, toUInt16(obs_h + 1) AS session, toUInt16(100 + cz) AS vlan, toUInt32(0) AS vni,
  if(reply, s_addr, c_addr) AS src_addr, if(reply, c_addr, s_addr) AS dst_addr,
  if(reply, sport, cport) AS src_port, if(reply, cport, sport) AS dst_port, proto, toUInt8(0) AS tos, if(proto = 6, toUInt8(27), toUInt8(0)) AS tcp_flags, toUInt16(0) AS icmp,
  toFixedString(unhex('020000000001'), 6) AS src_mac, toFixedString(unhex('020000000002'), 6) AS dst_mac,
  pk AS packets, pk * if(reply, 900, 120) AS bytes, toUInt32(1) AS sampling,
  if(reply, s_vm, c_vm) AS src_vm, if(reply, c_vm, s_vm) AS dst_vm, if(reply, s_host, c_host) AS src_host, if(reply, c_host, s_host) AS dst_host,
  if(reply, s_zone, c_zone) AS src_zone, if(reply, c_zone, s_zone) AS dst_zone, toUInt8(ch = sh) AS same_host, reply,
  if(bad, 'violation', 'allowed') AS verdict, if(bad, concat(c_zone, ' must never reach ', s_zone), concat(c_zone, ' to ', s_zone)) AS rule,
  if(bad, if(cz = 5 OR sz = 5, 'critical', 'high'), '') AS severity, 'bench0000001' AS policy_revision
FROM (
  SELECT n, c, k, reply, cv, sv, ch, sh, cz, sz, sport, cport, proto, bad, pk, st_ms, en_ms, toDateTime(intDiv(st_ms, 1000)) AS st,
    ch AS obs_h,
    concat('vm-', toString(cv)) AS c_vm, concat('vm-', toString(sv)) AS s_vm,
    concat('esx-', toString(ch)) AS c_host, concat('esx-', toString(sh)) AS s_host,
    arrayElement(['web', 'app', 'db', 'cache', 'mgmt', 'payroll', 'finance-frontend', 'backup'], cz + 1) AS c_zone,
    arrayElement(['web', 'app', 'db', 'cache', 'mgmt', 'payroll', 'finance-frontend', 'backup'], sz + 1) AS s_zone,
    toFixedString(IPv6StringToNum(concat('::ffff:10.', toString(cz), '.', toString(intDiv(cv, 250)), '.', toString(cv % 250 + 1))), 16) AS c_addr,
    toFixedString(IPv6StringToNum(concat('::ffff:10.', toString(sz), '.', toString(intDiv(sv, 250)), '.', toString(sv % 250 + 1))), 16) AS s_addr
  FROM (
    SELECT number AS n, n % {convs} AS c, intDiv(n, {convs}) AS k, toUInt8(k % 2) AS reply,
      {random} AS rnd,
      cityHash64(c, 1) % {vms} AS cv0,
      if(rnd, cityHash64(n, 2) % {vms}, cv0) AS cv,
      if(rnd, (cv + 1 + cityHash64(n, 3) % ({vms} - 1)) % {vms}, (cv0 + 1 + cityHash64(c, 3) % ({vms} - 1)) % {vms}) AS sv,
      cv % {hosts} AS ch, if(cityHash64(if(rnd, n, c), 4) % 10 < 3, ch, (sv * 7) % {hosts}) AS sh,
      cv % 8 AS cz, sv % 8 AS sz,
      arrayElement([443, 8443, 5432, 6379, 22, 53, 9200, 3306], (if(rnd, n, c) % 8) + 1) AS sport0,
      toUInt16(sport0) AS sport, toUInt16(32768 + cityHash64(n, 5) % 28000) AS cport, toUInt8(if(sport0 = 53, 17, 6)) AS proto,
      (cz = 0 AND sz = 2) OR (cz = 6 AND sz = 5) OR (cz = 5 AND sz = 6) OR (cz = 3 AND sz = 7) AS bad,
      toUInt64(1 + cityHash64(n, 6) % 40) AS pk,
      toUInt64({t0_ms} + intDiv(n * {span_ms}, {rows}) + cityHash64(n, 7) % 60000) AS st_ms, st_ms + cityHash64(n, 8) % 30000 AS en_ms
    FROM numbers({rows})
  )
)
