//! `test_audio_content`: a tenth of a second of 8 kHz WAV as an audio
//! block, for the suite's `tools-call-audio` (CONFORMANCE.md).

use gateway_tool::{Content, Tool, ToolError, attach};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A real WAV: RIFF/WAVE, 8 kHz mono 8-bit PCM, 800 samples.
const TONE: &[u8] = include_bytes!("tone.wav");

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// What the audio block holds.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Always "a 0.1 s square wave".
    pub audio: String,
}

struct AudioContent;

impl Tool for AudioContent {
    const NAME: &'static str = "test_audio_content";
    const DESCRIPTION: &'static str = "Returns a short WAV as an audio block.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        attach(Content::wav(TONE));
        Ok(Output {
            audio: "a 0.1 s square wave".into(),
        })
    }
}

gateway_tool::export_tool!(AudioContent);
