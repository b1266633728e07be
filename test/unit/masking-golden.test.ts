import { describe, expect, it } from "vitest";
import { GOLDEN_CASES, goldenDigest } from "./masking-golden-cases.ts";

/**
 * What the engine masked before its scans were prefiltered, recorded as digests (masked length
 * and sha256 of the masked text and findings): the prefiltered engine must give exactly this.
 */
const RECORDED: Record<string, string> = {
  "bench corpus, every detector": "1047162:335ac83a94e12db84181b174a840eaee",
  "bench/ssh corpus, ssh rules": "561389:6cf592d82000e8c4411b4d1ef8a7b239",
  "hostile 1, every detector": "42894:12ae5792c2ead08af3e6de15dd9d58ce",
  "hostile 2, every detector": "48014:922e1ad90f2d7260ab0d3f3247044b69",
  "hostile 3, every detector": "47317:da4f369f6274430604e19c844c73cbaa",
  "hostile 4, every detector": "44435:d1dfb25ec0a1e212ceb91a0ba112af94",
  "hostile 5, every detector": "46385:a92b9d677b829b0977ce92fcc2dd6d51",
  "hostile 6, every detector": "45659:24c8ed88bbe9781462215816f06f7a2e",
  "hostile 100, email alone": "64910:3bfec09e687091022c8037c93cf1585c",
  "hostile 100, jwt alone": "64152:4342108bb3bfeb9ba9ec53c5baf0eb5c",
  "hostile 100, bearer_token alone": "65254:fd1932ee46efa9fab568f667c71f64c3",
  "hostile 100, aws_access_key_id alone": "65658:7e0cf598bcd3dd28e6d956f0acf24547",
  "hostile 100, aws_secret_access_key alone": "65498:6a7d4d1852a737248c4e35e8ee7a4f14",
  "hostile 100, gcp_api_key alone": "65367:9ecca9afdcb981ea918846b9c05eed7f",
  "hostile 100, gcp_service_account_key alone": "64418:4cfb35b41475806b90c5ac74adde02b2",
  "hostile 100, azure_storage_key alone": "65374:1bf42fef69433796fe15d803a2f476b5",
  "hostile 100, azure_connection_string alone": "66001:2ad17c5e06c511a0dd15c9de46fab46a",
  "hostile 100, github_token alone": "64071:d21d6b277aa093fe3c7ad718297c4ff9",
  "hostile 100, gitlab_token alone": "65342:03df5c151d1c904c151dfa478e6f5cd2",
  "hostile 100, slack_token alone": "65022:57863236cada5af803a210ac2b5c1bad",
  "hostile 100, private_key_pem alone": "50457:781e00d052a6ee1c00059a299f4a3c0a",
  "hostile 100, url_password alone": "66647:cdf6eb3fc6788dd68cea758e096306e8",
  "hostile 100, credit_card alone": "65960:4752314eb1afdf600b48a8a1ed67262f",
  "hostile 100, iban alone": "65421:c6af48e3d58494437fb26ecfdada16c7",
  "hostile 100, us_ssn alone": "65656:8e2e73b997547570609d67deaf4627b6",
  "hostile 100, phone alone": "65732:d03661670381ada37f12bbfaed487192",
};

describe("masking results recorded before the prefilter", () => {
  it("has a recording for every case", () => {
    expect(GOLDEN_CASES.map((c) => c.name).sort()).toEqual(Object.keys(RECORDED).sort());
  });

  it.each(GOLDEN_CASES.map((c) => [c.name, c] as const))("%s", (name, c) => {
    expect(goldenDigest(c)).toBe(RECORDED[name]);
  });
});
