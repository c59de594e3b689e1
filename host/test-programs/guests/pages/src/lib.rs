//! `pages`: fetches `pages` pages one by one from `{api_base}/page/{i}`,
//! reporting progress before each and once more at the end, and attaches a
//! text block to its result: what the progress and cancellation tests drive
//! (a call that takes as long as its upstream makes it).

use gateway_tool::{Content, Tool, ToolError, attach, config, http, progress};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many pages to fetch.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Pages to fetch, one request each.
    pub pages: u32,
}

/// What was fetched.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Pages fetched.
    pub fetched: u32,
}

struct Pages;

impl Tool for Pages {
    const NAME: &'static str = "pages";
    const DESCRIPTION: &'static str = "Fetches pages one by one, reporting progress.";
    type Input = Input;
    type Output = Output;

    fn call(input: Input) -> Result<Output, ToolError> {
        let base = config::require("api_base")?;
        let total = f64::from(input.pages);
        for page in 0..input.pages {
            let note = format!("page {} of {}", page + 1, input.pages);
            progress(f64::from(page), Some(total), Some(&note));
            http::get(&format!("{base}/page/{page}"))?.error_for_status()?;
        }
        progress(total, Some(total), Some("done"));
        attach(Content::Text(format!("fetched {} pages", input.pages)));
        Ok(Output {
            fetched: input.pages,
        })
    }
}

gateway_tool::export_tool!(Pages);
