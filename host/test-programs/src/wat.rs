//! Hand-written components for runtime edge cases. Each exports
//! `gateway:tool/tool@0.1.0` with the canonical ABI laid out by hand, so the
//! behaviour under test is exactly the few instructions in `call`.

/// A component named `name` whose `call` runs `body` (core wasm
/// instructions; locals `$ptr` `$len` hold the input string). `body` must
/// leave a return-area pointer on the stack (see `ok_result`).
pub fn component(name: &str, initial_pages: u32, body: &str) -> Vec<u8> {
    component_full(name, initial_pages, DESCRIBE, body)
}

/// An echo tool describing itself with `description` and `input_schema`
/// exactly as given (for testing what the host accepts).
pub fn component_described(name: &str, description: &str, input_schema: &str) -> Vec<u8> {
    build(
        name,
        1,
        DESCRIBE,
        &ok_result("(local.get $ptr)", "(local.get $len)"),
        description,
        input_schema,
    )
}

/// `describe` filling its return area at 512 from the data segment.
const DESCRIBE: &str = "(i32.store (i32.const 512) (i32.const {n}))
      (i32.store (i32.const 516) (i32.const {nl}))
      (i32.store (i32.const 520) (i32.const {d}))
      (i32.store (i32.const 524) (i32.const {dl}))
      (i32.store (i32.const 528) (i32.const {s}))
      (i32.store (i32.const 532) (i32.const {sl}))
      (i32.store8 (i32.const 536) (i32.const 0))
      (i32.const 512)";

/// A component whose `describe` traps.
pub fn describe_traps() -> Vec<u8> {
    component_full("edge", 1, "unreachable", "unreachable")
}

fn component_full(name: &str, initial_pages: u32, describe: &str, body: &str) -> Vec<u8> {
    build(
        name,
        initial_pages,
        describe,
        body,
        "Edge-case test tool",
        r#"{"type":"object"}"#,
    )
}

/// Bytes as a WAT string literal's contents: printable ASCII as is, the
/// rest as `\hh` escapes.
fn wat_string(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
                char::from(b).to_string()
            } else {
                format!("\\{b:02x}")
            }
        })
        .collect()
}

fn build(
    name: &str,
    initial_pages: u32,
    describe: &str,
    body: &str,
    desc: &str,
    schema: &str,
) -> Vec<u8> {
    build_with(
        name,
        initial_pages,
        describe,
        body,
        desc,
        schema,
        &Extra::default(),
    )
}

/// What a component adds to the one `build` lays out.
#[derive(Default)]
struct Extra {
    /// Component items before the main module is instantiated.
    items: String,
    /// The main module's imports (functions only: memory 0 stays its own).
    imports: String,
    /// More fields of the main module.
    fields: String,
    /// Instantiation arguments of the main module.
    with: String,
}

fn build_with(
    name: &str,
    initial_pages: u32,
    describe: &str,
    body: &str,
    desc: &str,
    schema: &str,
    extra: &Extra,
) -> Vec<u8> {
    // Data layout: strings from 64, describe's return area at 512,
    // call's return area at 576, heap from 1024.
    let (n, d, s) = (64, 64 + name.len(), 64 + name.len() + desc.len());
    let text = format!(
        r#"(component
  {items}
  (core module $m
    {imports}
    (memory (export "memory") {initial_pages})
    {fields}
    (global $heap (mut i32) (i32.const 1024))
    (data (i32.const {n}) "{name}{desc_escaped}{schema_escaped}")
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then (if (i32.eq (memory.grow (i32.add (i32.div_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1))) (i32.const -1))
          (then unreachable))))
      (local.get $p))
    (func (export "describe") (result i32)
      {describe})
    (func $recurse (param i32) (result i32)
      (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
    (func (export "call") (param $ptr i32) (param $len i32) (result i32)
      {body})
  )
  (core instance $i (instantiate $m {with}))
  (type $err (variant (case "invalid-input" string) (case "upstream" string) (case "denied" string) (case "internal" string)))
  (type $desc (record (field "name" string) (field "description" string) (field "input-schema" string) (field "output-schema" (option string))))
  (func $describe (result $desc)
    (canon lift (core func $i "describe") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))))
  (func $call (param "input" string) (result (result string (error $err)))
    (canon lift (core func $i "call") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))))
  (instance $tool
    (export "tool-error" (type $err))
    (export "tool-description" (type $desc))
    (export "describe" (func $describe))
    (export "call" (func $call)))
  (export "gateway:tool/tool@0.1.0" (instance $tool))
)"#,
        describe = describe
            .replace("{n}", &n.to_string())
            .replace("{nl}", &name.len().to_string())
            .replace("{d}", &d.to_string())
            .replace("{dl}", &desc.len().to_string())
            .replace("{s}", &s.to_string())
            .replace("{sl}", &schema.len().to_string()),
        desc_escaped = wat_string(desc),
        schema_escaped = wat_string(schema),
        items = extra.items,
        imports = extra.imports,
        fields = extra.fields,
        with = extra.with,
    );
    ::wat::parse_str(&text).expect("edge-case component parses")
}

/// Instructions returning `ok(string at ptr/len)` via the return area at 576.
pub fn ok_result(ptr: &str, len: &str) -> String {
    format!(
        "(i32.store8 (i32.const 576) (i32.const 0)) (i32.store (i32.const 580) {ptr}) (i32.store (i32.const 584) {len}) (i32.const 576)"
    )
}

/// A tool named `name` whose every call returns `json` (short; written at
/// 8192, clear of the heap that holds the input).
pub fn constant(name: &str, json: &str) -> Vec<u8> {
    let mut body = String::new();
    for (i, byte) in json.bytes().enumerate() {
        body.push_str(&format!(
            "(i32.store8 (i32.const {}) (i32.const {byte}))",
            8192 + i
        ));
    }
    body.push_str(&ok_result(
        "(i32.const 8192)",
        &format!("(i32.const {})", json.len()),
    ));
    component(name, 1, &body)
}

/// Echoes the input back (a well-behaved tool).
pub fn echo() -> Vec<u8> {
    component(
        "edge",
        1,
        &ok_result("(local.get $ptr)", "(local.get $len)"),
    )
}

/// Never returns.
pub fn infinite_loop() -> Vec<u8> {
    component("edge", 1, "(loop $spin (br $spin)) (i32.const 0)")
}

/// Grows memory a page at a time until refused, then traps.
pub fn memory_bomb() -> Vec<u8> {
    component(
        "edge",
        1,
        "(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
    )
}

/// Unbounded recursion.
pub fn stack_overflow() -> Vec<u8> {
    component(
        "edge",
        1,
        "(drop (call $recurse (i32.const 0))) (i32.const 0)",
    )
}

/// Executes `unreachable` (what a Rust panic compiles to).
pub fn trap() -> Vec<u8> {
    component("edge", 1, "unreachable")
}

/// Returns `bytes` spaces (valid JSON whitespace is irrelevant: size is checked first).
pub fn oversized_output(bytes: u32) -> Vec<u8> {
    let pages = bytes / 65536 + 2;
    component(
        "edge",
        pages,
        &format!(
            "(memory.fill (i32.const 4096) (i32.const 32) (i32.const {bytes})) {}",
            ok_result("(i32.const 4096)", &format!("(i32.const {bytes})"))
        ),
    )
}

/// Instructions returning `ok("{}")`, written at 8192.
fn ok_empty_object() -> String {
    format!(
        "(i32.store8 (i32.const 8192) (i32.const {})) (i32.store8 (i32.const 8193) (i32.const {})) {}",
        b'{',
        b'}',
        ok_result("(i32.const 8192)", "(i32.const 2)")
    )
}

/// A component with `memories` linear memories (its own plus one in each of
/// `memories - 1` helper instances) that grows them in turn, a page at a
/// time, until each holds `pages` pages; a refused growth traps. Returns `{}`.
pub fn memories(memories: u32, pages: u32) -> Vec<u8> {
    let helpers = 1..memories;
    let mut extra = Extra {
        items: format!(
            r#"(core module $helper
    (memory 0)
    (func (export "step") (result i32)
      (if (result i32) (i32.lt_u (memory.size) (i32.const {pages}))
        (then (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
              (i32.const 1))
        (else (i32.const 0)))))"#
        ),
        ..Extra::default()
    };
    let mut steps = String::new();
    for k in helpers {
        extra
            .items
            .push_str(&format!("\n  (core instance $h{k} (instantiate $helper))"));
        extra.imports.push_str(&format!(
            "(import \"h{k}\" \"step\" (func $step{k} (result i32)))\n    "
        ));
        extra
            .with
            .push_str(&format!("(with \"h{k}\" (instance $h{k})) "));
        steps.push_str(&format!(
            "(local.set $more (i32.or (local.get $more) (call $step{k})))\n      "
        ));
    }
    let body = format!(
        r#"(local $more i32)
      (loop $round
        (local.set $more (i32.const 0))
        (if (i32.lt_u (memory.size) (i32.const {pages}))
          (then (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
                (local.set $more (i32.const 1))))
        {steps}
        (br_if $round (local.get $more)))
      {}"#,
        ok_empty_object()
    );
    build_with(
        "edge",
        1,
        DESCRIBE,
        &body,
        "Edge-case test tool",
        r#"{"type":"object"}"#,
        &extra,
    )
}

/// Grows a table 1024 elements at a time until refused, then traps.
pub fn table_bomb() -> Vec<u8> {
    let extra = Extra {
        fields: "(table $t 0 funcref)".into(),
        ..Extra::default()
    };
    build_with(
        "edge",
        1,
        DESCRIBE,
        "(loop $grow (br_if $grow (i32.ne (table.grow $t (ref.null func) (i32.const 1024)) (i32.const -1)))) unreachable",
        "Edge-case test tool",
        r#"{"type":"object"}"#,
        &extra,
    )
}
