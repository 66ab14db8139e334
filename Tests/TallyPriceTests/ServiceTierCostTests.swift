import TallyCore
import TallyPrice
import TallyProviders
import Testing

// Issue 16, by hand: the rates are the catalog's (USD per 1M tokens), each checked against the provider's page,
// genai-prices 0.2.3 and LiteLLM 1.110.2 as the entries' notes say; the arithmetic is in `why`.
let serviceTierCases: [CostCase] = [
    CostCase(
        name: "gpt-5.4 flex above 272K uses the long-context flex rates", provider: "openai", model: "gpt-5.4",
        input: 300_000, cached: 100_000, output: 10000, tier: "flex", expected: "0.6375",
        why: "flex > 272K 2.50 / 0.25 / 11.25: 200000×2.50 = 0.5; 100000×0.25 = 0.025; 10000×11.25 = 0.1125"),
    CostCase(
        name: "gpt-5.4 priority above 272K", provider: "openai", model: "gpt-5.4", input: 300_000, cached: 100_000,
        output: 10000, tier: "priority", expected: "2.55",
        why: "priority > 272K 10 / 1.00 / 45: 200000×10 = 2; 100000×1 = 0.1; 10000×45 = 0.45"),
    CostCase(
        name: "gpt-5.4 fast above 272K is priority", provider: "openai", model: "gpt-5.4", input: 300_000,
        cached: 100_000, output: 10000, tier: "fast", expected: "2.55", why: "fast at priority's > 272K rates: 2.55"),
    CostCase(
        name: "gpt-5.4 fast is priority", provider: "openai", model: "gpt-5.4", input: 100_000, output: 1000,
        tier: "fast", expected: "0.53", why: "priority 5 / 30: 100000×5 = 0.5; 1000×30 = 0.03"),
    CostCase(
        name: "gpt-5.4 flex at exactly 272K is the base flex rate", provider: "openai", model: "gpt-5.4",
        input: 272_000, output: 1000, tier: "flex", expected: "0.3475",
        why: "not above 272K: 272000×1.25 = 0.34; 1000×7.50 = 0.0075"),
    CostCase(
        name: "gpt-5.4 standard above 272K", provider: "openai", model: "gpt-5.4", input: 300_000, output: 1000,
        tier: "default", expected: "1.5225", why: "> 272K 5 / 22.50: 300000×5 = 1.5; 1000×22.50 = 0.0225"),
    CostCase(
        name: "gpt-5.4 batch above 272K, cached at its batch rate", provider: "openai", model: "gpt-5.4",
        input: 300_000, cached: 100_000, output: 10000, batch: true, expected: "0.6375",
        why: "200000×5×0.5 = 0.5; cached at the > 272K batch rate 100000×0.25 = 0.025; 10000×22.50×0.5 = 0.1125"),
    CostCase(
        name: "gpt-5.4 batch cached input is the published 0.13", provider: "openai", model: "gpt-5.4",
        input: 100_000, cached: 40000, output: 2000, batch: true, expected: "0.0952",
        why: "60000×2.50×0.5 = 0.075; 40000×0.13 = 0.0052; 2000×15×0.5 = 0.015"),
    CostCase(
        name: "gpt-5.5 priority above 272K", provider: "openai", model: "gpt-5.5", input: 300_000, cached: 50000,
        output: 10000, tier: "priority", expected: "7.5",
        why: "priority 12.50 / 1.25 / 75 ×2 / ×2 / ×1.5: 250000×25 = 6.25; 50000×2.50 = 0.125; 10000×112.50 = 1.125"),
    CostCase(
        name: "gpt-5.5 flex above 272K", provider: "openai", model: "gpt-5.5", input: 300_000, cached: 50000,
        output: 10000, tier: "flex", expected: "1.5",
        why: "flex > 272K 5 / 0.50 / 22.50: 250000×5 = 1.25; 50000×0.5 = 0.025; 10000×22.5 = 0.225"),
    CostCase(
        name: "gpt-5.5 fast", provider: "openai", model: "gpt-5.5", input: 10000, output: 1000, tier: "fast",
        expected: "0.2", why: "priority 12.50 / 75: 10000×12.5 = 0.125; 1000×75 = 0.075"),
    CostCase(
        name: "gpt-5.6-sol priority above 272K with cache writes", provider: "openai", model: "gpt-5.6-sol",
        input: 400_000, cached: 100_000, write: 50000, output: 10000, tier: "priority", expected: "5.76",
        why: "16 / 1.60 / 20 / 60: 250000×16 = 4; 100000×1.6 = 0.16; 50000×20 = 1; 10000×60 = 0.6"),
    CostCase(
        name: "gpt-5.6-sol flex above 272K with cache writes", provider: "openai", model: "gpt-5.6-sol",
        input: 400_000, cached: 100_000, write: 50000, output: 10000, tier: "flex", expected: "1.44",
        why: "4 / 0.40 / 5 / 15: 250000×4 = 1; 100000×0.4 = 0.04; 50000×5 = 0.25; 10000×15 = 0.15"),
    CostCase(
        name: "gpt-5.6-luna fast above 272K", provider: "openai", model: "gpt-5.6-luna", input: 300_000,
        output: 10000, tier: "fast", expected: "0.276",
        why: "priority > 272K 0.80 / 3.60: 300000×0.8 = 0.24; 10000×3.6 = 0.036"),
    CostCase(
        name: "gpt-5.6-terra flex above 272K", provider: "openai", model: "gpt-5.6-terra", input: 300_000,
        output: 10000, tier: "flex", expected: "0.69", why: "flex > 272K 2 / 9: 300000×2 = 0.6; 10000×9 = 0.09"),
    CostCase(
        name: "gpt-6-sol priority above 272K", provider: "openai", model: "gpt-6-sol", input: 300_000,
        cached: 100_000, output: 10000, tier: "priority", expected: "1.98",
        why: "8 / 0.80 / 30: 200000×8 = 1.6; 100000×0.8 = 0.08; 10000×30 = 0.3"),
    CostCase(
        name: "gpt-6-luna flex above 272K", provider: "openai", model: "gpt-6-luna", input: 1_000_000,
        output: 100_000, tier: "flex", expected: "0.1375",
        why: "0.10 / 0.375: 1000000×0.1 = 0.1; 100000×0.375 = 0.0375"),
    CostCase(
        name: "gpt-6-astra fast above 272K", provider: "openai", model: "gpt-6-astra", input: 300_000, output: 1000,
        tier: "fast", expected: "12.15", why: "priority > 272K 40 / 150: 300000×40 = 12; 1000×150 = 0.15"),
    CostCase(
        name: "gpt-6.1-sol flex above 272K", provider: "openai", model: "gpt-6.1-sol", input: 300_000,
        cached: 100_000, output: 1000, tier: "flex", expected: "0.4175",
        why: "2 / 0.10 / 7.50: 200000×2 = 0.4; 100000×0.1 = 0.01; 1000×7.5 = 0.0075"),
    CostCase(
        name: "gpt-5.4-pro flex above 272K", provider: "openai", model: "gpt-5.4-pro", input: 300_000, output: 1000,
        tier: "flex", expected: "9.135", why: "30 / 135: 300000×30 = 9; 1000×135 = 0.135"),
    CostCase(
        name: "gpt-5 fast is priority", provider: "openai", model: "gpt-5", input: 100_000, cached: 60000,
        output: 5000, reasoning: 3000, tier: "fast", expected: "0.215",
        why: "priority 2.50 / 0.25 / 20: 0.1 + 0.015 + 0.04 + 0.06"),
    CostCase(
        name: "gpt-5-nano fast without a priority price is standard", provider: "openai", model: "gpt-5-nano",
        input: 1_000_000, tier: "fast", expected: "0.05", why: "no fast or priority price: 1000000×0.05"),
    CostCase(
        name: "o3 fast is priority", provider: "openai", model: "o3", input: 10000, cached: 5000, output: 1000,
        tier: "fast", expected: "0.035875",
        why: "priority 3.50 / 0.875 / 14: 5000×3.5 = 0.0175; 5000×0.875 = 0.004375; 1000×14 = 0.014"),
    CostCase(
        name: "an unknown tier is standard", provider: "openai", model: "gpt-5", input: 1_000_000, tier: "scale",
        expected: "1.25", why: "no scale price: 1000000×1.25"),
]

let geminiTierCases: [CostCase] = [
    CostCase(
        name: "gemini 3.8 flash flex ×0.5", provider: "google", model: "gemini-3.8-flash", input: 100_000,
        cached: 40000, output: 10000, tier: "flex", expected: "0.04275",
        why: "0.75 / 0.075 / 3.75 × 0.5: 60000×0.375 = 0.0225; 40000×0.0375 = 0.0015; 10000×1.875 = 0.01875"),
    CostCase(
        name: "gemini 3.8 flash priority ×1.8", provider: "google", model: "gemini-3.8-flash", input: 100_000,
        cached: 40000, output: 10000, tier: "priority", expected: "0.1539",
        why: "× 1.8 = 1.35 / 0.135 / 6.75: 60000×1.35 = 0.081; 40000×0.135 = 0.0054; 10000×6.75 = 0.0675"),
    CostCase(
        name: "gemini 3.8 flash priority at the 2027 rates", provider: "google", model: "gemini-3.8-flash",
        at: "2027-01-15T00:00:00Z", input: 100_000, cached: 40000, output: 10000, tier: "priority",
        expected: "0.3078", why: "1.50 / 0.15 / 7.50 × 1.8: 60000×2.7 = 0.162; 40000×0.27 = 0.0108; 10000×13.5 = 0.135"),
    CostCase(
        name: "gemini 2.5 pro flex above 200K, cache reads not discounted", provider: "google",
        model: "gemini-2.5-pro", input: 300_000, cached: 100_000, output: 10000, tier: "flex", expected: "0.35",
        why: "flex > 200K 1.25 / 0.25 / 7.50: 200000×1.25 = 0.25; 100000×0.25 = 0.025; 10000×7.5 = 0.075"),
    CostCase(
        name: "gemini 2.5 pro priority above 200K", provider: "google", model: "gemini-2.5-pro", input: 300_000,
        cached: 100_000, output: 10000, tier: "priority", expected: "1.215",
        why: "> 200K 2.50 / 0.25 / 15 × 1.8: 200000×4.5 = 0.9; 100000×0.45 = 0.045; 10000×27 = 0.27"),
    CostCase(
        name: "gemini 2.5 pro priority", provider: "google", model: "gemini-2.5-pro", input: 100_000, cached: 50000,
        output: 1000, tier: "priority", expected: "0.14175",
        why: "1.25 / 0.125 / 10 × 1.8: 50000×2.25 = 0.1125; 50000×0.225 = 0.01125; 1000×18 = 0.018"),
    CostCase(
        name: "gemini 2.5 flash flex keeps the cache rate", provider: "google", model: "gemini-2.5-flash",
        input: 100_000, cached: 50000, output: 10000, tier: "flex", expected: "0.0215",
        why: "flex 0.15 / 0.03 / 1.25: 50000×0.15 = 0.0075; 50000×0.03 = 0.0015; 10000×1.25 = 0.0125"),
    CostCase(
        name: "gemini 3.1 flash-lite flex ×0.5", provider: "google", model: "gemini-3.1-flash-lite", input: 100_000,
        cached: 50000, output: 10000, tier: "flex", expected: "0.014375",
        why: "0.125 / 0.0125 / 0.75: 50000×0.125 = 0.00625; 50000×0.0125 = 0.000625; 10000×0.75 = 0.0075"),
    CostCase(
        name: "gemini 3.5 flash-lite priority", provider: "google", model: "gemini-3.5-flash-lite", input: 100_000,
        cached: 50000, output: 10000, tier: "priority", expected: "0.0745",
        why: "priority 0.54 / 0.05 / 4.50: 50000×0.54 = 0.027; 50000×0.05 = 0.0025; 10000×4.5 = 0.045"),
    CostCase(
        name: "gemini 4 argon flex", provider: "google", model: "gemini-4-argon", input: 100_000, output: 10000,
        tier: "flex", expected: "0.15", why: "2 / 10 × 0.5: 100000×1 = 0.1; 10000×5 = 0.05"),
    CostCase(
        name: "gemini 3.1 pro flex above 200K", provider: "google", model: "gemini-3.1-pro-preview", input: 300_000,
        cached: 100_000, output: 1000, tier: "flex", expected: "0.449",
        why: "flex > 200K 2 / 0.40 / 9: 200000×2 = 0.4; 100000×0.4 = 0.04; 1000×9 = 0.009"),
]

let batchCacheCases: [CostCase] = [
    CostCase(
        name: "gemini 2.5 pro batch does not discount cache reads", provider: "google", model: "gemini-2.5-pro",
        input: 100_000, cached: 80000, output: 2000, batch: true, expected: "0.0325",
        why: "20000×1.25×0.5 = 0.0125; 80000×0.125 = 0.01; 2000×10×0.5 = 0.01"),
    CostCase(
        name: "gemini 2.5 pro batch above 200K", provider: "google", model: "gemini-2.5-pro", input: 300_000,
        cached: 100_000, output: 10000, batch: true, expected: "0.35",
        why: "200000×2.5×0.5 = 0.25; 100000×0.25 = 0.025; 10000×15×0.5 = 0.075"),
    CostCase(
        name: "gemini 2.5 flash batch cache read", provider: "google", model: "gemini-2.5-flash", input: 100_000,
        cached: 100_000, batch: true, expected: "0.003", why: "100000×0.03, not halved"),
    CostCase(
        name: "gemini 2.5 flash-lite batch", provider: "google", model: "gemini-2.5-flash-lite", input: 100_000,
        cached: 50000, output: 10000, batch: true, expected: "0.005",
        why: "50000×0.10×0.5 = 0.0025; 50000×0.01 = 0.0005; 10000×0.40×0.5 = 0.002"),
    CostCase(
        name: "gemini 3 flash preview batch", provider: "google", model: "gemini-3-flash-preview", input: 100_000,
        cached: 50000, output: 10000, batch: true, expected: "0.03",
        why: "50000×0.5×0.5 = 0.0125; 50000×0.05 = 0.0025; 10000×3×0.5 = 0.015"),
    CostCase(
        name: "gemini 3.1 pro batch", provider: "google", model: "gemini-3.1-pro-preview", input: 100_000,
        cached: 50000, output: 10000, batch: true, expected: "0.12",
        why: "50000×2×0.5 = 0.05; 50000×0.20 = 0.01; 10000×12×0.5 = 0.06"),
    CostCase(
        name: "gemini 3.5 flash-lite batch cache is 0.02", provider: "google", model: "gemini-3.5-flash-lite",
        input: 100_000, cached: 50000, output: 10000, batch: true, expected: "0.021",
        why: "50000×0.30×0.5 = 0.0075; 50000×0.02 = 0.001; 10000×2.50×0.5 = 0.0125"),
    CostCase(
        name: "gemini 3.5 flash batch halves cache reads", provider: "google", model: "gemini-3.5-flash",
        input: 100_000, cached: 50000, output: 10000, batch: true, expected: "0.08625",
        why: "50000×1.5×0.5 = 0.0375; 50000×0.15×0.5 = 0.00375; 10000×9×0.5 = 0.045"),
    CostCase(
        name: "gpt-4o-mini batch cached at the standard cached rate", provider: "openai", model: "gpt-4o-mini",
        input: 2000, cached: 1024, output: 100, batch: true, expected: "0.00018",
        why: "976×0.15×0.5 = 0.0000732; 1024×0.075 = 0.0000768; 100×0.60×0.5 = 0.00003"),
    CostCase(
        name: "gpt-4.1 batch cached", provider: "openai", model: "gpt-4.1", input: 50000, cached: 20000,
        output: 3000, batch: true, expected: "0.052",
        why: "30000×2×0.5 = 0.03; 20000×0.50 = 0.01; 3000×8×0.5 = 0.012"),
    CostCase(
        name: "gpt-4.1-mini batch cached", provider: "openai", model: "gpt-4.1-mini", input: 100_000, cached: 50000,
        output: 10000, batch: true, expected: "0.023",
        why: "50000×0.40×0.5 = 0.01; 50000×0.10 = 0.005; 10000×1.60×0.5 = 0.008"),
    CostCase(
        name: "gpt-4.1-nano batch cached", provider: "openai", model: "gpt-4.1-nano", input: 1_000_000,
        cached: 500_000, output: 100_000, batch: true, expected: "0.0575",
        why: "500000×0.10×0.5 = 0.025; 500000×0.025 = 0.0125; 100000×0.40×0.5 = 0.02"),
    CostCase(
        name: "o1 batch cached", provider: "openai", model: "o1", input: 10000, cached: 5000, output: 1000,
        batch: true, expected: "0.105", why: "5000×15×0.5 = 0.0375; 5000×7.50 = 0.0375; 1000×60×0.5 = 0.03"),
    CostCase(
        name: "o3 batch cached", provider: "openai", model: "o3", input: 10000, cached: 5000, output: 1000,
        batch: true, expected: "0.0115", why: "5000×2×0.5 = 0.005; 5000×0.50 = 0.0025; 1000×8×0.5 = 0.004"),
    CostCase(
        name: "o3-mini batch cached", provider: "openai", model: "o3-mini", input: 10000, cached: 5000, output: 1000,
        batch: true, expected: "0.0077", why: "5000×1.10×0.5 = 0.00275; 5000×0.55 = 0.00275; 1000×4.40×0.5 = 0.0022"),
    CostCase(
        name: "o4-mini batch cached", provider: "openai", model: "o4-mini", input: 10000, cached: 5000, output: 1000,
        batch: true, expected: "0.006325",
        why: "5000×1.10×0.5 = 0.00275; 5000×0.275 = 0.001375; 1000×4.40×0.5 = 0.0022"),
    CostCase(
        name: "sonnet 4.5 batch halves cache writes too", provider: "anthropic", model: "claude-sonnet-4-5",
        input: 20000, write: 15000, output: 100, batch: true, expected: "0.036375",
        why: "multipliers stack: (5000×3 + 15000×3.75 + 100×15) × 0.5 = 0.07275 × 0.5"),
]

let historyCases: [CostCase] = [
    CostCase(
        name: "haiku 3.5 launch month", provider: "anthropic", model: "claude-3-5-haiku-20241022",
        at: "2024-11-15T12:00:00Z", input: 1_000_000, output: 1_000_000, expected: "6", why: "launch 1 + 5"),
    CostCase(
        name: "haiku 3.5 launch cache rates", provider: "anthropic", model: "claude-3-5-haiku",
        at: "2024-11-20T00:00:00Z", input: 100_000, cached: 50000, write: 30000, write1h: 10000, output: 1000,
        expected: "0.075",
        why: "20000×1 = 0.02; 50000×0.10 = 0.005; 20000×1.25 = 0.025; 10000×2 = 0.02; 1000×5 = 0.005"),
    CostCase(
        name: "haiku 3.5 the last second before the cut", provider: "anthropic", model: "claude-3-5-haiku",
        at: "2024-12-02T23:59:59Z", input: 1_000_000, output: 1_000_000, expected: "6", why: "still 1 + 5"),
    CostCase(
        name: "haiku 3.5 the day of the cut", provider: "anthropic", model: "claude-3-5-haiku",
        at: "2024-12-03T00:00:00Z", input: 1_000_000, output: 1_000_000, expected: "4.8", why: "0.80 + 4"),
    CostCase(
        name: "haiku 3.5 the month after the cut", provider: "anthropic", model: "claude-3-5-haiku-20241022",
        at: "2025-01-10T00:00:00Z", input: 1_000_000, cached: 100_000, output: 1_000_000, expected: "4.728",
        why: "900000×0.80 = 0.72; 100000×0.08 = 0.008; 1000000×4 = 4"),
    CostCase(
        name: "gemini 2.5 flash cache read before Google's cut", provider: "google", model: "gemini-2.5-flash",
        at: "2025-10-01T00:00:00Z", input: 100_000, cached: 100_000, expected: "0.0075", why: "100000×0.075"),
    CostCase(
        name: "gemini 2.5 pro cache read before the cut", provider: "google", model: "gemini-2.5-pro",
        at: "2025-08-01T00:00:00Z", input: 100_000, cached: 80000, output: 2000, expected: "0.0698",
        why: "20000×1.25 = 0.025; 80000×0.31 = 0.0248; 2000×10 = 0.02"),
    CostCase(
        name: "gemini 2.5 pro batch cache read before the cut", provider: "google", model: "gemini-2.5-pro",
        at: "2025-08-01T00:00:00Z", input: 300_000, cached: 100_000, output: 1000, batch: true, expected: "0.32",
        why: "> 200K: 200000×2.5×0.5 = 0.25; 100000×0.625 = 0.0625; 1000×15×0.5 = 0.0075"),
    CostCase(
        name: "gemini 2.5 flash-lite cache read before the cut", provider: "google", model: "gemini-2.5-flash-lite",
        at: "2025-08-01T00:00:00Z", input: 100_000, cached: 100_000, expected: "0.0025", why: "100000×0.025"),
    CostCase(
        name: "gemini-flash-latest the day before it moved to 3 Flash", provider: "google",
        model: "gemini-flash-latest", at: "2026-01-20T12:00:00Z", input: 10000, output: 1000, expected: "0.0055",
        why: "gemini-2.5-flash: 10000×0.30 = 0.003; 1000×2.50 = 0.0025"),
    CostCase(
        name: "gemini-flash-latest on 3 Flash Preview", provider: "google", model: "gemini-flash-latest",
        at: "2026-01-21T00:00:00Z", input: 10000, output: 1000, expected: "0.008",
        why: "gemini-3-flash-preview: 10000×0.50 = 0.005; 1000×3 = 0.003"),
    CostCase(
        name: "gemini-flash-latest on 3.5 Flash", provider: "google", model: "gemini-flash-latest",
        at: "2026-09-01T23:00:00Z", input: 10000, output: 1000, expected: "0.024",
        why: "gemini-3.5-flash: 10000×1.50 = 0.015; 1000×9 = 0.009"),
    CostCase(
        name: "gemini-flash-latest on 3.8 Flash", provider: "google", model: "gemini-flash-latest",
        at: "2026-09-02T00:00:00Z", input: 10000, output: 1000, expected: "0.01125",
        why: "gemini-3.8-flash: 10000×0.75 = 0.0075; 1000×3.75 = 0.00375"),
    CostCase(
        name: "gemini-flash-latest before it existed is unpriced", provider: "google", model: "gemini-flash-latest",
        at: "2025-09-24T12:00:00Z", input: 10000, expected: nil, why: "no alias of that name on that day"),
    CostCase(
        name: "gemini-flash-lite-latest before 3.5 Flash-Lite", provider: "google", model: "gemini-flash-lite-latest",
        at: "2026-07-22T12:00:00Z", input: 10000, output: 1000, expected: "0.0014",
        why: "gemini-2.5-flash-lite: 10000×0.10 = 0.001; 1000×0.40 = 0.0004"),
    CostCase(
        name: "gemini-flash-lite-latest on 3.5 Flash-Lite", provider: "google", model: "gemini-flash-lite-latest",
        at: "2026-07-23T00:00:00Z", input: 10000, output: 1000, expected: "0.0055",
        why: "gemini-3.5-flash-lite: 10000×0.30 = 0.003; 1000×2.50 = 0.0025"),
    CostCase(
        name: "gpt-realtime cached audio on the cached line", provider: "openai", model: "gpt-realtime",
        input: 10000, cached: 6000, output: 1000, inputAudio: 3000, outputAudio: 800, expected: "0.1568",
        why: "cached audio is in cached only (0.40, the text cache rate): 1000×4 = 0.004; 6000×0.40 = 0.0024;"
            + " uncached audio 3000×32 = 0.096; 200×16 = 0.0032; 800×64 = 0.0512"),
    CostCase(
        name: "gpt-4o-realtime-preview cached audio", provider: "openai", model: "gpt-4o-realtime-preview",
        input: 10000, cached: 8000, inputAudio: 2000, expected: "0.1",
        why: "cached 8000×2.50 = 0.02 (cached audio is 2.50 like text); uncached audio 2000×40 = 0.08"),
]

@Suite struct ServiceTierCostTests {
    let pricer = CatalogPricer()
    static let cases = serviceTierCases + geminiTierCases + batchCacheCases + historyCases

    @Test(arguments: cases)
    func cost(_ c: CostCase) {
        let breakdown = pricer.breakdown(c.event, organizationID: "org")
        #expect(breakdown?.cost.decimalString == c.expected, "\(c.name): \(c.why)")
        if let breakdown { #expect(breakdown.lines.reduce(USD.zero) { $0 + $1.cost } == breakdown.cost) }
    }

    @Test func thereAreAtLeastFortyNewCases() {
        #expect(Self.cases.count >= 40)
    }
}

/// OpenAI's usage counts cached audio inside both the cached and the audio counts; mapped by `ProviderUsage`, each
/// token is priced once.
@Suite struct CachedAudioPriceTests {
    /// The same usage priced with gpt-realtime: every token once. 1000 text × 4 = 0.004; 6000 cached (2000 text,
    /// 4000 audio, both 0.40) = 0.0024; 3000 uncached audio × 32 = 0.096; 200 text out × 16 = 0.0032; 800 audio out
    /// × 64 = 0.0512. Counting the cached audio as audio too would add 4000 × 32 = 0.128 and take 4000 text away.
    @Test func thePriceBillsCachedAudioOnceAtTheCachedRate() throws {
        var event = UsageEvent(
            id: "e", timestamp: Instant(rfc3339: "2026-11-01T00:00:00Z")!, provider: "openai", model: "gpt-realtime")
        event.usage = ProviderUsage.openAIChat(
            try JSONParser.parse(
                Array(
                    #"""
                    {"prompt_tokens":10000,"completion_tokens":1000,
                     "prompt_tokens_details":{"cached_tokens":6000,"audio_tokens":7000,"cached_tokens_details":{"audio_tokens":4000}},
                     "completion_tokens_details":{"audio_tokens":800}}
                    """#.utf8)))
        event.usage.requests = 1
        #expect(CatalogPricer().quote(event, organizationID: "org")?.cost.decimalString == "0.1568")
    }

}
