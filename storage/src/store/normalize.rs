//! Normalisation of names and query text before tokenising, so that the index and a query
//! typed on a tablet meet on one form.
//!
//! Kana: half-width katakana → full width (a following ﾞ/ﾟ combines into the voiced or
//! semi-voiced letter, as NFKC does), hiragana → katakana, spaces (U+0020, U+3000) and the HL7
//! component separator removed, small kana kept (ャ and ヤ stay distinct: they spell different
//! names). Written out instead of pulling `unicode-normalization`: only the katakana block and
//! the space characters matter here, and the table is 63 entries.

/// Full-width katakana for U+FF61..=U+FF9D (half-width punctuation and katakana).
const HALF_TO_FULL: [char; 61] = [
    '。', '「', '」', '、', '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー',
    'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ',
    'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ',
    'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ', 'ン',
];

fn half_to_full(c: char) -> Option<char> {
    let i = (c as u32).checked_sub(0xFF61)?;
    HALF_TO_FULL.get(i as usize).copied()
}

/// The voiced form of a full-width katakana letter (カ→ガ, ウ→ヴ), if it has one.
fn voiced(c: char) -> Option<char> {
    match c {
        'ウ' => Some('ヴ'),
        'カ' | 'キ' | 'ク' | 'ケ' | 'コ' | 'サ' | 'シ' | 'ス' | 'セ' | 'ソ' | 'タ' | 'チ'
        | 'ツ' | 'テ' | 'ト' | 'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => {
            char::from_u32(c as u32 + 1)
        }
        _ => None,
    }
}

/// The semi-voiced form (ハ→パ), if it has one.
fn semi_voiced(c: char) -> Option<char> {
    match c {
        'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => char::from_u32(c as u32 + 2),
        _ => None,
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\u{3000}' | '\t' | '^')
}

/// Kana normal form: full-width katakana, no spaces.
pub fn kana(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_space(c) {
            continue;
        }
        let c = match c {
            // Half-width voiced marks, and the combining ones, join the letter before.
            '\u{FF9E}' | '\u{3099}' | '\u{309B}' => {
                if let Some(p) = out.pop() {
                    match voiced(p) {
                        Some(v) => out.push(v),
                        None => {
                            out.push(p);
                            out.push('゛');
                        }
                    }
                }
                continue;
            }
            '\u{FF9F}' | '\u{309A}' | '\u{309C}' => {
                if let Some(p) = out.pop() {
                    match semi_voiced(p) {
                        Some(v) => out.push(v),
                        None => {
                            out.push(p);
                            out.push('゜');
                        }
                    }
                }
                continue;
            }
            '\u{FF61}'..='\u{FF9D}' => half_to_full(c).unwrap_or(c),
            // Hiragana ぁ..ゖ and the iteration marks ゝゞ map 0x60 up to katakana.
            '\u{3041}'..='\u{3096}' | '\u{309D}' | '\u{309E}' => {
                char::from_u32(c as u32 + 0x60).unwrap_or(c)
            }
            _ => c,
        };
        out.push(c);
    }
    out
}

/// True when `text` (already normalised) is katakana only: the query is a kana name.
pub fn is_katakana(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| ('\u{30A1}'..='\u{30FC}').contains(&c) || c == '゛' || c == '゜')
}

/// Kanji-name normal form: spaces removed and full-width ASCII left as is (names are kanji).
pub fn kanji(text: &str) -> String {
    text.chars().filter(|&c| !is_space(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_forms_meet() {
        for (input, want) in [
            ("ヤマダ タロウ", "ヤマダタロウ"),
            ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ"),
            ("やまだ　たろう", "ヤマダタロウ"),
            ("ﾊﾟﾝ", "パン"),
            ("ｷｮｳｺ", "キョウコ"),
            ("ｳﾞｧ", "ヴァ"),
            ("ヤマダ^タロウ", "ヤマダタロウ"),
            ("ｰ", "ー"),
            ("ﾞ", ""),
        ] {
            assert_eq!(kana(input), want, "{input}");
        }
        assert!(is_katakana(&kana("ｷｮｳｺ")));
        assert!(!is_katakana(&kana("山田")));
        assert!(!is_katakana(""));
        assert_eq!(kanji("山田　太郎"), "山田太郎");
    }

    #[test]
    fn odd_marks_never_panic() {
        for s in ["ﾟ", "ﾞﾞ", "アﾟ", "aﾞ", "\u{3099}"] {
            let _ = kana(s);
        }
        assert_eq!(kana("アﾟ"), "ア゜");
    }
}
