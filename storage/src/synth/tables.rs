//! Lookup tables for the synthetic region: names, places, diagnoses, drugs, lab items, allergens.
//!
//! Every string here is JIS X 0208 text free of HL7 delimiters (`| ^ ~ \ &`); a test checks both.
//!
//! Code values: the gastritis MEDIS/ICD pair, the lab codes for total protein, albumin and AST,
//! the allergen codes for ソバ, スギ and ハウスダスト, the two JAMI dosage codes for twice and three
//! times daily and the HOT9 codes of the infusion products come from the guideline samples. All
//! other codes have the right shape (HOT 9 digits, JLAC10 17 or 15 characters, MEDIS 8 digits and
//! a 4-character exchange code, JAMI 16 digits) but were not looked up in the masters: they are
//! for demos and benchmarks, never for clinical decisions.

/// A name and its katakana reading.
pub(crate) type Named = (&'static str, &'static str);

pub(crate) const FAMILY: &[Named] = &[
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
    ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
    ("阿部", "アベ"), ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"),
    ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"), ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"),
    ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("斉藤", "サイトウ"), ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"),
    ("藤井", "フジイ"), ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"),
    ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"), ("中川", "ナカガワ"),
    ("松田", "マツダ"), ("竹内", "タケウチ"), ("小野", "オノ"), ("田村", "タムラ"),
    ("中山", "ナカヤマ"), ("和田", "ワダ"), ("石田", "イシダ"), ("森田", "モリタ"),
    ("上田", "ウエダ"), ("原", "ハラ"), ("内田", "ウチダ"), ("柴田", "シバタ"),
    ("酒井", "サカイ"), ("宮崎", "ミヤザキ"), ("横山", "ヨコヤマ"), ("高木", "タカギ"),
    ("安藤", "アンドウ"), ("宮本", "ミヤモト"), ("大野", "オオノ"), ("小島", "コジマ"),
    ("谷口", "タニグチ"), ("今井", "イマイ"), ("工藤", "クドウ"), ("高田", "タカダ"),
    ("増田", "マスダ"), ("丸山", "マルヤマ"), ("杉山", "スギヤマ"), ("村田", "ムラタ"),
    ("大塚", "オオツカ"), ("新井", "アライ"), ("小山", "コヤマ"), ("平野", "ヒラノ"),
    ("藤本", "フジモト"), ("河野", "コウノ"), ("上野", "ウエノ"), ("野口", "ノグチ"),
    ("武田", "タケダ"), ("松井", "マツイ"), ("千葉", "チバ"), ("岩崎", "イワサキ"),
    ("菅原", "スガワラ"), ("木下", "キノシタ"), ("久保", "クボ"), ("佐野", "サノ"),
    ("野村", "ノムラ"), ("菊地", "キクチ"), ("及川", "オイカワ"), ("熊谷", "クマガイ"),
    ("菅野", "カンノ"), ("大友", "オオトモ"), ("今野", "コンノ"), ("阿部", "アベ"),
];

pub(crate) const GIVEN_MALE: &[Named] = &[
    ("太郎", "タロウ"), ("一郎", "イチロウ"), ("健一", "ケンイチ"), ("浩", "ヒロシ"),
    ("誠", "マコト"), ("茂", "シゲル"), ("清", "キヨシ"), ("勇", "イサム"),
    ("博", "ヒロシ"), ("隆", "タカシ"), ("実", "ミノル"), ("進", "ススム"),
    ("豊", "ユタカ"), ("正", "タダシ"), ("明", "アキラ"), ("修", "オサム"),
    ("弘", "ヒロシ"), ("武", "タケシ"), ("昭", "アキラ"), ("和夫", "カズオ"),
    ("正男", "マサオ"), ("義男", "ヨシオ"), ("幸雄", "ユキオ"), ("秀夫", "ヒデオ"),
    ("昭二", "ショウジ"), ("勝", "マサル"), ("功", "イサオ"), ("稔", "ミノル"),
    ("三郎", "サブロウ"), ("次郎", "ジロウ"), ("健二", "ケンジ"), ("孝", "タカシ"),
    ("哲也", "テツヤ"), ("和彦", "カズヒコ"), ("正樹", "マサキ"), ("直樹", "ナオキ"),
    ("浩二", "コウジ"), ("健太", "ケンタ"), ("大輔", "ダイスケ"), ("拓也", "タクヤ"),
    ("翔太", "ショウタ"), ("大樹", "ダイキ"), ("翔", "ショウ"), ("蓮", "レン"),
    ("悠真", "ユウマ"), ("陽翔", "ハルト"), ("湊", "ミナト"), ("大翔", "ヒロト"),
    ("優斗", "ユウト"), ("颯太", "ソウタ"), ("陸", "リク"), ("樹", "イツキ"),
    ("智也", "トモヤ"), ("達也", "タツヤ"), ("剛", "ツヨシ"), ("亮", "リョウ"),
    ("聡", "サトシ"), ("学", "マナブ"), ("徹", "トオル"), ("仁", "ヒトシ"),
    ("忠", "タダシ"), ("誠一", "セイイチ"), ("俊夫", "トシオ"), ("敏夫", "トシオ"),
    ("信夫", "ノブオ"), ("光男", "ミツオ"), ("武雄", "タケオ"), ("静夫", "シズオ"),
    ("久雄", "ヒサオ"), ("隆之", "タカユキ"), ("雅之", "マサユキ"), ("秀樹", "ヒデキ"),
    ("英樹", "ヒデキ"), ("康弘", "ヤスヒロ"), ("利夫", "トシオ"), ("政雄", "マサオ"),
    ("一男", "カズオ"), ("文雄", "フミオ"), ("保", "タモツ"), ("守", "マモル"),
    ("登", "ノボル"), ("昇", "ノボル"), ("栄一", "エイイチ"), ("喜一", "キイチ"),
    ("幸一", "コウイチ"), ("賢治", "ケンジ"), ("雄一", "ユウイチ"), ("裕之", "ヒロユキ"),
    ("恵一", "ケイイチ"), ("秀明", "ヒデアキ"), ("圭介", "ケイスケ"), ("慎一", "シンイチ"),
    ("克也", "カツヤ"), ("伸一", "シンイチ"), ("信之", "ノブユキ"), ("将太", "ショウタ"),
    ("海斗", "カイト"), ("隼人", "ハヤト"), ("悟", "サトル"), ("重雄", "シゲオ"),
];

pub(crate) const GIVEN_FEMALE: &[Named] = &[
    ("花子", "ハナコ"), ("幸子", "サチコ"), ("和子", "カズコ"), ("節子", "セツコ"),
    ("洋子", "ヨウコ"), ("恵子", "ケイコ"), ("京子", "キョウコ"), ("久子", "ヒサコ"),
    ("美智子", "ミチコ"), ("弘子", "ヒロコ"), ("照子", "テルコ"), ("静子", "シズコ"),
    ("文子", "フミコ"), ("悦子", "エツコ"), ("典子", "ノリコ"), ("裕子", "ユウコ"),
    ("順子", "ジュンコ"), ("信子", "ノブコ"), ("明美", "アケミ"), ("由美子", "ユミコ"),
    ("久美子", "クミコ"), ("直美", "ナオミ"), ("真由美", "マユミ"), ("陽子", "ヨウコ"),
    ("智子", "トモコ"), ("恵美", "エミ"), ("淳子", "ジュンコ"), ("美穂", "ミホ"),
    ("愛", "アイ"), ("舞", "マイ"), ("彩", "アヤ"), ("美咲", "ミサキ"),
    ("葵", "アオイ"), ("結衣", "ユイ"), ("陽菜", "ヒナ"), ("凛", "リン"),
    ("芽衣", "メイ"), ("紬", "ツムギ"), ("花", "ハナ"), ("桜", "サクラ"),
    ("千代", "チヨ"), ("八重", "ヤエ"), ("清子", "キヨコ"), ("春子", "ハルコ"),
    ("夏子", "ナツコ"), ("秋子", "アキコ"), ("芳子", "ヨシコ"), ("君子", "キミコ"),
    ("光子", "ミツコ"), ("正子", "マサコ"), ("良子", "ヨシコ"), ("勝子", "カツコ"),
    ("富子", "トミコ"), ("敏子", "トシコ"), ("昭子", "アキコ"), ("千恵子", "チエコ"),
    ("美代子", "ミヨコ"), ("喜代子", "キヨコ"), ("貞子", "サダコ"), ("澄子", "スミコ"),
    ("登美子", "トミコ"), ("栄子", "エイコ"), ("孝子", "タカコ"), ("清美", "キヨミ"),
    ("麻衣", "マイ"), ("由紀", "ユキ"), ("香織", "カオリ"), ("沙織", "サオリ"),
    ("理恵", "リエ"), ("美香", "ミカ"), ("友美", "トモミ"), ("亜希子", "アキコ"),
    ("里美", "サトミ"), ("明子", "アキコ"), ("瞳", "ヒトミ"), ("綾", "アヤ"),
    ("優子", "ユウコ"), ("紀子", "ノリコ"), ("純子", "ジュンコ"), ("玲子", "レイコ"),
    ("礼子", "レイコ"), ("康子", "ヤスコ"), ("和美", "カズミ"), ("真理子", "マリコ"),
    ("加奈子", "カナコ"), ("奈々", "ナナ"), ("千尋", "チヒロ"), ("彩花", "アヤカ"),
    ("美月", "ミヅキ"), ("結菜", "ユイナ"), ("莉子", "リコ"), ("心春", "コハル"),
    ("杏", "アン"), ("詩織", "シオリ"), ("遥", "ハルカ"), ("楓", "カエデ"),
    ("琴音", "コトネ"), ("早苗", "サナエ"), ("ミヨ", "ミヨ"), ("ハル", "ハル"),
];

/// A Miyagi municipality: name, first three postcode digits, telephone area code, towns.
pub(crate) struct City {
    pub name: &'static str,
    pub postcode3: &'static str,
    pub area_code: &'static str,
    pub towns: &'static [&'static str],
}

pub(crate) const CITIES: &[City] = &[
    City { name: "仙台市青葉区", postcode3: "980", area_code: "022", towns: &["一番町", "国分町", "上杉", "八幡", "川内", "中央", "本町", "花京院"] },
    City { name: "仙台市宮城野区", postcode3: "983", area_code: "022", towns: &["榴岡", "原町", "福室", "岩切", "鶴ケ谷", "新田"] },
    City { name: "仙台市若林区", postcode3: "984", area_code: "022", towns: &["荒町", "連坊", "六丁の目", "卸町", "荒井"] },
    City { name: "仙台市太白区", postcode3: "982", area_code: "022", towns: &["長町", "富沢", "八木山", "西多賀", "中田"] },
    City { name: "仙台市泉区", postcode3: "981", area_code: "022", towns: &["泉中央", "将監", "南光台", "八乙女", "寺岡"] },
    City { name: "石巻市", postcode3: "986", area_code: "0225", towns: &["中央", "穀町", "門脇町", "渡波", "蛇田", "湊町"] },
    City { name: "気仙沼市", postcode3: "988", area_code: "0226", towns: &["南町", "魚町", "田中前", "本吉町", "唐桑町"] },
    City { name: "名取市", postcode3: "981", area_code: "022", towns: &["増田", "愛島", "高舘", "植松", "下余田"] },
    City { name: "塩竈市", postcode3: "985", area_code: "022", towns: &["本町", "海岸通", "旭町", "北浜"] },
    City { name: "多賀城市", postcode3: "985", area_code: "022", towns: &["中央", "桜木", "高崎", "八幡"] },
    City { name: "岩沼市", postcode3: "989", area_code: "0223", towns: &["中央", "桜", "館下", "二木"] },
    City { name: "東松島市", postcode3: "981", area_code: "0225", towns: &["矢本", "大曲", "赤井", "小野"] },
    City { name: "本吉郡南三陸町", postcode3: "986", area_code: "0226", towns: &["志津川", "歌津", "戸倉", "入谷"] },
    City { name: "大崎市", postcode3: "989", area_code: "0229", towns: &["古川駅前大通", "古川中里", "鳴子温泉", "岩出山"] },
];

/// Facility names with the index into [`CITIES`] of the municipality they stand in.
pub(crate) const HOSPITAL_NAMES: &[(&str, usize)] = &[
    ("仙台青葉中央病院", 0), ("石巻港湾総合病院", 5), ("気仙沼さくら病院", 6), ("名取みどり病院", 7), ("大崎市民協立病院", 13),
];
pub(crate) const CLINIC_NAMES: &[(&str, usize)] = &[
    ("杜の都内科クリニック", 1), ("泉中央内科医院", 4), ("石巻みなと透析クリニック", 5), ("多賀城すこやか内科", 9), ("岩沼ひかり診療所", 10),
];
pub(crate) const PHARMACY_NAMES: &[(&str, usize)] = &[
    ("青葉通り薬局", 0), ("石巻中央調剤薬局", 5), ("あおば調剤薬局", 3), ("気仙沼みなと薬局", 6), ("名取さくら薬局", 7),
];

/// SS-MIX2 unified department codes used here (user table 0069).
pub(crate) const DEPT_INTERNAL: (&str, &str) = ("01", "内科");
pub(crate) const DEPT_RESPIRATORY: (&str, &str) = ("05", "呼吸器科");
pub(crate) const DEPT_CARDIO: (&str, &str) = ("08", "循環器科");

/// Chronic conditions that drive diagnoses, drugs and labs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cond {
    Hypertension,
    Diabetes,
    CkdDialysis,
    Copd,
    Dyslipidemia,
    Gastritis,
    Osteoporosis,
    AtrialFibrillation,
    Asthma,
    Insomnia,
    KneeOa,
}

/// A diagnosis: MEDIS management number, exchange code, ICD-10, name.
pub(crate) struct Diagnosis {
    pub cond: Cond,
    pub medis: &'static str,
    pub exchange: &'static str,
    pub icd10: &'static str,
    pub name: &'static str,
}

pub(crate) const DIAGNOSES: &[Diagnosis] = &[
    Diagnosis { cond: Cond::Hypertension, medis: "20057516", exchange: "8833", icd10: "I10", name: "高血圧症" },
    Diagnosis { cond: Cond::Diabetes, medis: "20061427", exchange: "KQDU", icd10: "E119", name: "２型糖尿病" },
    Diagnosis { cond: Cond::CkdDialysis, medis: "20063185", exchange: "EC0G", icd10: "N185", name: "慢性腎不全" },
    Diagnosis { cond: Cond::Copd, medis: "20063710", exchange: "TV8B", icd10: "J449", name: "慢性閉塞性肺疾患" },
    Diagnosis { cond: Cond::Dyslipidemia, medis: "20064590", exchange: "RL6H", icd10: "E785", name: "脂質異常症" },
    Diagnosis { cond: Cond::Gastritis, medis: "20054174", exchange: "TSQF", icd10: "K297", name: "胃炎" },
    Diagnosis { cond: Cond::Osteoporosis, medis: "20058372", exchange: "M5B9", icd10: "M8199", name: "骨粗鬆症" },
    Diagnosis { cond: Cond::AtrialFibrillation, medis: "20052431", exchange: "F3KA", icd10: "I489", name: "心房細動" },
    Diagnosis { cond: Cond::Asthma, medis: "20055913", exchange: "V7QR", icd10: "J459", name: "気管支喘息" },
    Diagnosis { cond: Cond::Insomnia, medis: "20060808", exchange: "HU2M", icd10: "G470", name: "不眠症" },
    Diagnosis { cond: Cond::KneeOa, medis: "20062291", exchange: "JK4F", icd10: "M179", name: "変形性膝関節症" },
];

/// A JAMI dosage instruction (JAMISDP01).
pub(crate) type Dosage = (&'static str, &'static str);
pub(crate) const DOSE_TID: Dosage = ("1013044400000000", "内服・経口・１日３回朝昼夕食後");
pub(crate) const DOSE_BID: Dosage = ("1012040400000000", "内服・経口・１日２回朝夕食後");
pub(crate) const DOSE_QD_MORNING: Dosage = ("1011000400000000", "内服・経口・１日１回朝食後");
pub(crate) const DOSE_QD_BEDTIME: Dosage = ("1011000000000040", "内服・経口・１日１回就寝前");
pub(crate) const DOSE_SC_TID: Dosage = ("3013044400000000", "注射・皮下・１日３回毎食直前");
pub(crate) const DOSE_SC_QD: Dosage = ("3011000000000040", "注射・皮下・１日１回就寝前");
pub(crate) const DOSE_INHALE_QD: Dosage = ("2011000400000000", "吸入・１日１回朝");

/// A MERIT-9 unit.
pub(crate) type Unit = (&'static str, &'static str);
pub(crate) const U_TAB: Unit = ("TAB", "錠");
pub(crate) const U_CAP: Unit = ("CAP", "カプセル");
pub(crate) const U_HON: Unit = ("HON", "本");
pub(crate) const U_KIT: Unit = ("KIT", "キット");
pub(crate) const U_AMP: Unit = ("AMP", "アンプル");

/// How a drug is taken, for RXR-1 (HL7 table 0162).
pub(crate) type Route = (&'static str, &'static str);
pub(crate) const ROUTE_PO: Route = ("PO", "口");
pub(crate) const ROUTE_SC: Route = ("SC", "皮下");
pub(crate) const ROUTE_IH: Route = ("IH", "吸入");
pub(crate) const ROUTE_IV: Route = ("IV", "静脈内");

/// An oral, inhaled or self-injected drug prescribed in OMP-01.
pub(crate) struct Drug {
    pub hot9: &'static str,
    pub name: &'static str,
    /// Amount per administration, in `unit`.
    pub dose: u32,
    pub unit: Unit,
    /// Administrations per day (for the total daily dose and the administration records).
    pub per_day: u32,
    pub dosage: Dosage,
    pub route: Route,
    /// Dispensed per 28 days for pens and inhalers; `None` means dose × per_day × days.
    pub dispense_fixed: Option<u32>,
    pub insulin: bool,
}

const fn oral(hot9: &'static str, name: &'static str, dose: u32, per_day: u32, dosage: Dosage) -> Drug {
    Drug { hot9, name, dose, unit: U_TAB, per_day, dosage, route: ROUTE_PO, dispense_fixed: None, insulin: false }
}

pub(crate) const AMLODIPINE: Drug = oral("112325701", "アムロジピン錠５ｍｇ", 1, 1, DOSE_QD_MORNING);
pub(crate) const OLMESARTAN: Drug = oral("115396701", "オルメサルタン錠２０ｍｇ", 1, 1, DOSE_QD_MORNING);
pub(crate) const METFORMIN: Drug = oral("110845202", "メトホルミン塩酸塩錠２５０ｍｇ", 1, 2, DOSE_BID);
pub(crate) const SITAGLIPTIN: Drug = oral("117051201", "シタグリプチン錠５０ｍｇ", 1, 1, DOSE_QD_MORNING);
pub(crate) const INSULIN_GLARGINE: Drug = Drug { hot9: "116573601", name: "ランタス注ソロスター", dose: 1, unit: U_KIT, per_day: 1, dosage: DOSE_SC_QD, route: ROUTE_SC, dispense_fixed: Some(2), insulin: true };
pub(crate) const INSULIN_ASPART: Drug = Drug { hot9: "114938202", name: "ノボラピッド注フレックスペン", dose: 1, unit: U_KIT, per_day: 3, dosage: DOSE_SC_TID, route: ROUTE_SC, dispense_fixed: Some(3), insulin: true };
pub(crate) const LANTHANUM: Drug = oral("118522401", "炭酸ランタンＯＤ錠２５０ｍｇ", 1, 3, DOSE_TID);
pub(crate) const SEVELAMER: Drug = oral("114290501", "セベラマー塩酸塩錠２５０ｍｇ", 2, 3, DOSE_TID);
pub(crate) const CALCITRIOL: Drug = Drug { hot9: "105553001", name: "カルシトリオールカプセル０．２５μｇ", dose: 1, unit: U_CAP, per_day: 1, dosage: DOSE_QD_MORNING, route: ROUTE_PO, dispense_fixed: None, insulin: false };
pub(crate) const TIOTROPIUM: Drug = Drug { hot9: "116200101", name: "スピリーバ２．５μｇレスピマット", dose: 2, unit: ("KAI", "回"), per_day: 1, dosage: DOSE_INHALE_QD, route: ROUTE_IH, dispense_fixed: Some(1), insulin: false };
pub(crate) const ROSUVASTATIN: Drug = oral("116597601", "ロスバスタチン錠２．５ｍｇ", 1, 1, DOSE_QD_MORNING);
pub(crate) const LANSOPRAZOLE: Drug = oral("111584102", "ランソプラゾールＯＤ錠１５ｍｇ", 1, 1, DOSE_QD_MORNING);
pub(crate) const ELDECALCITOL: Drug = Drug { hot9: "120516801", name: "エルデカルシトールカプセル０．７５μｇ", dose: 1, unit: U_CAP, per_day: 1, dosage: DOSE_QD_MORNING, route: ROUTE_PO, dispense_fixed: None, insulin: false };
pub(crate) const APIXABAN: Drug = oral("121378101", "エリキュース錠５ｍｇ", 1, 2, DOSE_BID);
pub(crate) const MONTELUKAST: Drug = oral("113541302", "モンテルカスト錠１０ｍｇ", 1, 1, DOSE_QD_BEDTIME);
pub(crate) const ZOLPIDEM: Drug = oral("112478201", "ゾルピデム酒石酸塩錠５ｍｇ", 1, 1, DOSE_QD_BEDTIME);
pub(crate) const LOXOPROFEN: Drug = oral("103754402", "ロキソプロフェンナトリウム錠６０ｍｇ", 1, 3, DOSE_TID);

/// The chronic drugs for a condition; insulin is added separately for some diabetics.
pub(crate) fn drugs_for(cond: Cond) -> &'static [Drug] {
    match cond {
        Cond::Hypertension => &[AMLODIPINE, OLMESARTAN],
        Cond::Diabetes => &[METFORMIN, SITAGLIPTIN],
        Cond::CkdDialysis => &[LANTHANUM, SEVELAMER, CALCITRIOL],
        Cond::Copd => &[TIOTROPIUM],
        Cond::Dyslipidemia => &[ROSUVASTATIN],
        Cond::Gastritis => &[LANSOPRAZOLE],
        Cond::Osteoporosis => &[ELDECALCITOL],
        Cond::AtrialFibrillation => &[APIXABAN],
        Cond::Asthma => &[MONTELUKAST],
        Cond::Insomnia => &[ZOLPIDEM],
        Cond::KneeOa => &[LOXOPROFEN],
    }
}

/// An injected product for OMP-02/OMP-12 (RXC): HOT9, name, amount, unit.
pub(crate) type Injectable = (&'static str, &'static str, u32, Unit);
/// Erythropoiesis-stimulating agents given during dialysis.
pub(crate) const ESA: &[Injectable] = &[
    ("119878501", "ネスプ注射液６０μｇプラシリンジ", 1, U_KIT),
    ("121532301", "ミルセラ注シリンジ１００μｇ", 1, U_KIT),
];
/// Infusions for inpatients; the first two are from the guideline's OMP-02 sample.
pub(crate) const INFUSION_BASE: Injectable = ("620007329", "ソリタ−Ｔ３号輸液５００ｍＬ", 1, U_HON);
pub(crate) const INFUSION_ADDITIVE: Injectable = ("620002559", "アドナ注（静脈用）５０ｍｇ", 1, U_AMP);

/// A lab item: JLAC10 code, name, ISO+ unit, reference range and how values are drawn.
pub(crate) struct Lab {
    pub jlac10: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    pub low: f64,
    pub high: f64,
    pub decimals: usize,
    /// Typical value when healthy, and when the driving condition is present.
    pub normal: f64,
    pub sick: Option<(Cond, f64)>,
}

pub(crate) const LABS: &[Lab] = &[
    Lab { jlac10: "3A010000002327101", name: "総蛋白", unit: "g/dL", low: 6.7, high: 8.3, decimals: 1, normal: 7.2, sick: None },
    Lab { jlac10: "3A015000002327101", name: "アルブミン", unit: "g/dL", low: 3.8, high: 5.2, decimals: 1, normal: 4.3, sick: Some((Cond::CkdDialysis, 3.4)) },
    Lab { jlac10: "3B035000002327201", name: "ＡＳＴ", unit: "U/L", low: 10.0, high: 40.0, decimals: 0, normal: 24.0, sick: None },
    Lab { jlac10: "3B045000002327201", name: "ＡＬＴ", unit: "U/L", low: 5.0, high: 45.0, decimals: 0, normal: 22.0, sick: None },
    Lab { jlac10: "3C015000002327101", name: "クレアチニン", unit: "mg/dL", low: 0.6, high: 1.1, decimals: 2, normal: 0.8, sick: Some((Cond::CkdDialysis, 8.5)) },
    Lab { jlac10: "3C025000002327101", name: "尿素窒素", unit: "mg/dL", low: 8.0, high: 20.0, decimals: 1, normal: 14.0, sick: Some((Cond::CkdDialysis, 62.0)) },
    Lab { jlac10: "3H015000002327101", name: "カリウム", unit: "mEq/L", low: 3.5, high: 5.0, decimals: 1, normal: 4.2, sick: Some((Cond::CkdDialysis, 5.4)) },
    Lab { jlac10: "3H040000002327101", name: "無機リン", unit: "mg/dL", low: 2.5, high: 4.5, decimals: 1, normal: 3.4, sick: Some((Cond::CkdDialysis, 6.1)) },
    Lab { jlac10: "3D010000001926101", name: "グルコース", unit: "mg/dL", low: 70.0, high: 109.0, decimals: 0, normal: 95.0, sick: Some((Cond::Diabetes, 168.0)) },
    Lab { jlac10: "3D046000001920402", name: "ＨｂＡ１ｃ", unit: "%", low: 4.6, high: 6.2, decimals: 1, normal: 5.5, sick: Some((Cond::Diabetes, 7.6)) },
    Lab { jlac10: "3F077000002327101", name: "ＬＤＬコレステロール", unit: "mg/dL", low: 65.0, high: 139.0, decimals: 0, normal: 118.0, sick: Some((Cond::Dyslipidemia, 162.0)) },
    Lab { jlac10: "2A030000001930101", name: "ヘモグロビン", unit: "g/dL", low: 11.6, high: 16.8, decimals: 1, normal: 13.8, sick: Some((Cond::CkdDialysis, 10.6)) },
];

/// Infection screening items (qualitative, ST results).
pub(crate) struct Infection {
    pub jlac10: &'static str,
    pub name: &'static str,
    /// Positives per 10,000 people.
    pub per_10k: u32,
}

pub(crate) const INFECTIONS: &[Infection] = &[
    Infection { jlac10: "5F016141002305711", name: "ＨＢｓ抗原", per_10k: 100 },
    Infection { jlac10: "5F360149002305711", name: "ＨＣＶ抗体", per_10k: 150 },
    Infection { jlac10: "5E071145002305711", name: "梅毒ＴＰ抗体", per_10k: 40 },
    Infection { jlac10: "5E011145002305711", name: "梅毒ＳＴＳ（ＲＰＲ）", per_10k: 20 },
    Infection { jlac10: "5F431141002305711", name: "ＨＩＶ抗原・抗体", per_10k: 10 },
];

/// An allergen for IAM/AL1: allergen type (table 0127), code, name, coding system, reaction.
pub(crate) struct Allergen {
    pub kind: (&'static str, &'static str),
    pub code: &'static str,
    pub name: &'static str,
    pub system: &'static str,
    pub reaction: &'static str,
}

const DA: (&str, &str) = ("DA", "薬剤アレルギー");
const FA: (&str, &str) = ("FA", "食物アレルギー");
const EA: (&str, &str) = ("EA", "環境アレルギー");
const LA: (&str, &str) = ("LA", "花粉アレルギー");

pub(crate) const ALLERGENS: &[Allergen] = &[
    Allergen { kind: DA, code: "100795402", name: "アモキシシリン", system: "HOT9", reaction: "全身の発疹" },
    Allergen { kind: DA, code: "100564501", name: "セファクロル", system: "HOT9", reaction: "じんましん" },
    Allergen { kind: DA, code: "103754402", name: "ロキソプロフェンナトリウム", system: "HOT9", reaction: "喘息発作" },
    Allergen { kind: DA, code: "100238001", name: "アスピリン", system: "HOT9", reaction: "呼吸困難" },
    Allergen { kind: DA, code: "106824501", name: "アリナミン", system: "HOT9", reaction: "のどの渇き" },
    Allergen { kind: DA, code: "107331601", name: "イオパミドール", system: "HOT9", reaction: "嘔吐と血圧低下" },
    Allergen { kind: FA, code: "5A1002411023006", name: "ソバ", system: "JC10", reaction: "湿疹" },
    Allergen { kind: FA, code: "5A1001311023006", name: "卵白", system: "JC10", reaction: "じんましん" },
    Allergen { kind: FA, code: "5A1001511023006", name: "牛乳", system: "JC10", reaction: "腹痛" },
    Allergen { kind: FA, code: "5A1002011023006", name: "小麦", system: "JC10", reaction: "じんましん" },
    Allergen { kind: FA, code: "5A1003111023006", name: "エビ", system: "JC10", reaction: "口唇の腫れ" },
    Allergen { kind: FA, code: "5A1003511023006", name: "カニ", system: "JC10", reaction: "口唇の腫れ" },
    Allergen { kind: EA, code: "5A1102700023023", name: "ハウスダスト", system: "JC10", reaction: "くしゃみ" },
    Allergen { kind: EA, code: "5A1104100023023", name: "ネコ皮屑", system: "JC10", reaction: "鼻水" },
    Allergen { kind: LA, code: "5A1002216023023", name: "スギ", system: "JC10", reaction: "目のかゆみ" },
];

/// IAM-4 severity (HL7 table 0128).
pub(crate) const SEVERITIES: &[(&str, &str)] = &[("MI", "軽度"), ("MO", "中等度"), ("SV", "重度")];

/// Comments for the NTE after each lab OBX (OUL^R22 requires one when anchored).
pub(crate) const LAB_COMMENTS: &[&str] = &["特記事項なし", "再検済み", "溶血なし", "乳び軽度"];
