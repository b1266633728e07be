/** Sample data for `sluice demo`: personal data and secrets for masking to hide, orders to guard. */
export const DEMO_DATA = `
CREATE TABLE customers (
  id int PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL,
  ssn text,
  phone text,
  api_key text
);
INSERT INTO customers VALUES
  (1, 'Ada Lovelace', 'ada@analytical.example', '078-05-1120', '+1 415 555 0100', 'sk_live_51Hx9aDemoKeyAAAAAAAAAAAA'),
  (2, 'Grace Hopper', 'grace@cobol.example', '219-09-9999', '+1 212 555 0199', 'sk_live_51Hx9aDemoKeyBBBBBBBBBBBB'),
  (3, 'Alan Turing', 'alan@bletchley.example', '457-55-5462', '+44 20 7946 0018', 'sk_live_51Hx9aDemoKeyCCCCCCCCCCCC');

CREATE TABLE orders (
  id int PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  total numeric(10,2) NOT NULL,
  card_number text NOT NULL,
  status text NOT NULL DEFAULT 'open'
);
INSERT INTO orders VALUES
  (1, 1, 120.50, '4111111111111111', 'open'),
  (2, 2, 75.00, '5500005555555559', 'shipped'),
  (3, 3, 310.99, '340000000000009', 'open');

CREATE TABLE support_notes (
  id serial PRIMARY KEY,
  customer_id int REFERENCES customers(id),
  body text NOT NULL
);
INSERT INTO support_notes (customer_id, body) VALUES
  (1, 'Customer asked to update email to ada.l@analytical.example'),
  (2, 'Temporary AWS key shared by mistake: AKIAIOSFODNN7EXAMPLE'),
  (3, 'Reset link sent; db url was postgres://admin:hunter2@db.internal/prod');
`;
