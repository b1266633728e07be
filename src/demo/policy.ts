/** The demo's policy: one target, agents' access, one deny rule, one approval rule, and masking. */
export function demoPolicy(targetAddress: string): string {
  return `
targets:
  - name: shop
    protocol: postgres
    address: "${targetAddress}"
    credential: { env: SLUICE_DEMO_SHOP_URL }
    masking: pii

access:
  - { name: agents-shop, who: { groups: [agents] }, targets: [shop], level: read-write, maxTtl: 8h }

rules:
  - name: no-destructive-sql
    action: deny
    reason: DROP and TRUNCATE are never run through agents
    match: { sql: { flags: [drop, truncate] } }
  - name: approve-order-changes
    action: require_approval
    reason: changing orders needs a human
    match: { sql: { readOnly: false, relations: [orders] } }
    approval: { groups: [approvers], timeout: 10m }

masking:
  - name: pii
    columns:
      - { column: "*.customers.email", strategy: partial }
      - { column: "*.customers.ssn", strategy: redact }
      - { column: "*.customers.api_key", strategy: redact }
      - { column: "*.orders.card_number", strategy: partial }
    detectors:
      - { detector: email, strategy: redact }
      - { detector: aws_access_key_id, strategy: redact }
      - { detector: url_password, strategy: redact }
      - { detector: us_ssn, strategy: redact }
`;
}
