//! The field registry: what each field of each integration's output means in
//! this business, read from `fields/<integration>.yaml`, and the checks that
//! keep tool results and those definitions in step.
//!
//! - [`Registry`] loads the folder; [`lint`] reports every problem with its
//!   file, line and column; [`Watched`] reloads on change and keeps the last
//!   good registry when a change has errors.
//! - [`validate`] compares a tool result with its integration's fields and
//!   [`attach`]es a `_field_validation` summary only when they differ.
//! - [`drift`] compares a fresh sample; [`discover`] proposes definitions for
//!   what is not registered yet (as text for review, never written).
//! - [`enrich_schema`] and [`schema_from_fields`] put the meanings into tools'
//!   output schemas.
//!
//! Paths: `period.start` (nested object), `by_currency.*.gross` (each value
//! of a map keyed by data), `stages[].label` (each item of a list). A field
//! registered as an object or list with nothing registered beneath it is
//! taken as a whole: its contents are neither checked nor reported.

mod discover;
mod drift;
mod lint;
mod path;
mod registry;
mod schema;
mod validate;
mod watch;
mod yaml;

#[cfg(test)]
mod testutil;

pub use discover::discover;
pub use drift::{Drift, drift};
pub use lint::{LintError, LintKind, lint};
pub use path::PathError;
pub use registry::{FieldDef, FieldType, Integration, Registry};
pub use schema::{describe, enrich_schema, schema_from_fields};
pub use validate::{FieldValidation, JsonKind, TypeMismatch, VALIDATION_KEY, attach, validate};
pub use watch::{Reload, WatchError, Watched};
