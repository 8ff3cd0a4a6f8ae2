//! Real PDF documents (payout confirmations, account statements): a title and lines of text in
//! Helvetica, one of the 14 base fonts every reader has, so nothing is embedded. `pdftotext`
//! shows the text as written.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
const LEADING: f32 = 16.0;
const LINES_PER_PAGE: usize = ((PAGE_HEIGHT - 2.0 * MARGIN - 40.0) / LEADING) as usize;

/// A document: a title, then lines (a line may be `label: value` or free text).
pub fn document(title: &str, lines: &[String]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog_id = Ref::new(1);
    let tree_id = Ref::new(2);
    let font_id = Ref::new(3);
    let bold_id = Ref::new(4);
    let info_id = Ref::new(5);
    let chunks: Vec<&[String]> = if lines.is_empty() {
        vec![&[]]
    } else {
        lines.chunks(LINES_PER_PAGE).collect()
    };
    let page_ids: Vec<Ref> = (0..chunks.len())
        .map(|i| Ref::new(10 + 2 * i as i32))
        .collect();

    pdf.catalog(catalog_id).pages(tree_id);
    pdf.pages(tree_id)
        .kids(page_ids.iter().copied())
        .count(page_ids.len() as i32);
    pdf.type1_font(font_id)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold_id)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info_id)
        .title(TextStr(title))
        .producer(TextStr("masspay-sandbox"));

    for (i, chunk) in chunks.iter().enumerate() {
        let page_id = page_ids[i];
        let content_id = Ref::new(11 + 2 * i as i32);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
        page.parent(tree_id);
        page.contents(content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), font_id);
        fonts.pair(Name(b"F2"), bold_id);
        fonts.finish();
        resources.finish();
        page.finish();

        let mut content = Content::new();
        content.begin_text();
        content.set_font(Name(b"F2"), 16.0);
        content.next_line(MARGIN, PAGE_HEIGHT - MARGIN);
        content.show(Str(&latin1(title)));
        content.set_font(Name(b"F1"), 10.5);
        content.next_line(0.0, -28.0);
        for line in chunk.iter() {
            content.show(Str(&latin1(line)));
            content.next_line(0.0, -LEADING);
        }
        content.end_text();
        let data = content.finish();
        pdf.stream(content_id, data.as_slice());
    }
    pdf.finish()
}

/// Helvetica's standard encoding covers Latin-1; anything else becomes `?`.
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| {
            u8::try_from(u32::from(c))
                .ok()
                .filter(|b| *b >= 0x20)
                .unwrap_or(b'?')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_pdf_with_its_text() {
        let bytes = document(
            "Payout confirmation",
            &["Payout token: payout_x".into(), "Fee: 2.99 USD".into()],
        );
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("(Payout token: payout_x) Tj"), "{text}");
        assert!(text.trim_end().ends_with("%%EOF"));
    }
}
