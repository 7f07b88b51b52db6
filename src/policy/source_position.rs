//! Where in a policy file an error is: `line:column`, from the byte offset
//! of a diagnostic's label, so that the log and `policy validate` say where
//! to look.

use miette::Diagnostic;

/// `line:column` (1-based) of `offset` in `text`.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |rest| rest.chars().count()) + 1;
    (line, column)
}

/// A diagnostic as one line per problem: `PATH:LINE:COLUMN: message`.
pub fn describe(path: &str, text: &str, diagnostic: &dyn Diagnostic) -> String {
    let mut lines = Vec::new();
    let mut push = |diagnostic: &dyn Diagnostic| {
        let position = diagnostic
            .labels()
            .and_then(|mut labels| labels.next())
            .map(|label| line_and_column(text, label.offset()));
        let help = diagnostic.help().map(|help| format!(" ({help})")).unwrap_or_default();
        match position {
            Some((line, column)) => lines.push(format!("{path}:{line}:{column}: {diagnostic}{help}")),
            None => lines.push(format!("{path}: {diagnostic}{help}")),
        }
    };
    match diagnostic.related() {
        Some(related) => {
            let related: Vec<&dyn Diagnostic> = related.collect();
            if related.is_empty() {
                push(diagnostic);
            }
            for inner in related {
                push(inner);
            }
        }
        None => push(diagnostic),
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "permit(\n  principal,\n  action\n);";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 10), (2, 3));
        assert_eq!(line_and_column(text, text.len()), (4, 3));
    }
}
