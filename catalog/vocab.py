"""Bilingual vocabulary of the demo sportswear and outdoor shop.

Pure data: categories, product series, colours, sizes, cities, warehouses, carriers and
holidays. The demo generator (`catalog.demo`) turns it into a catalog database; tests and
the NLU data use it to know what the demo shop sells.
"""

from __future__ import annotations

# (category_id, name_en, name_zh, noun_en, noun_zh, short aliases en, short aliases zh,
#  size set, colour count, base price CNY)
CATEGORIES = [
    ("running_shoes", "Running shoes", "跑鞋", "Running Shoes", "跑鞋",
     ["runner", "running shoes", "runners"], ["跑鞋", "跑步鞋"], "shoe", 3, 399),
    ("hiking_shoes", "Hiking shoes", "徒步鞋", "Hiking Shoes", "徒步鞋",
     ["hiker", "hiking shoes", "hiking boots"], ["徒步鞋", "登山鞋"], "shoe_big", 3, 599),
    ("socks", "Socks", "运动袜", "Running Socks", "运动袜",
     ["socks"], ["袜子", "袜"], "sock", 3, 39),
    ("insoles", "Insoles", "鞋垫", "Insoles", "鞋垫",
     ["insoles", "insole"], ["鞋垫"], "insole", 1, 89),
    ("shell_jackets", "Shell jackets", "冲锋衣", "Shell Jacket", "冲锋衣",
     ["shell", "jacket", "shell jacket"], ["冲锋衣"], "apparel", 4, 899),
    ("down_jackets", "Down jackets", "羽绒服", "Down Jacket", "羽绒服",
     ["down jacket", "puffer"], ["羽绒服", "羽绒衣"], "apparel", 3, 1099),
    ("base_layers", "Base layers", "排汗打底衣", "Base Layer", "排汗打底衣",
     ["base layer", "baselayer"], ["打底衣", "打底"], "apparel_small", 3, 199),
    ("tshirts", "Quick-dry T-shirts", "速干T恤", "Quick-dry Tee", "速干T恤",
     ["tee", "t-shirt", "tshirt"], ["T恤", "速干衣"], "apparel", 4, 149),
    ("pants", "Outdoor pants", "户外裤", "Trekking Pants", "户外裤",
     ["pants", "trousers"], ["裤子", "徒步裤"], "apparel", 3, 329),
    ("backpacks", "Backpacks", "背包", "Backpack", "背包",
     ["backpack", "pack", "daypack"], ["背包", "双肩包"], "one", 3, 459),
    ("caps", "Caps", "帽子", "Running Cap", "跑步帽",
     ["cap", "hat"], ["帽子", "跑步帽"], "one", 4, 99),
    ("trekking_poles", "Trekking poles", "登山杖", "Trekking Poles", "登山杖",
     ["poles", "trekking poles"], ["登山杖", "手杖"], "one", 2, 259),
]

# Product series: unique within a category, reused across categories like real lines.
SERIES = [
    ("Swift", "疾风"), ("Ridge", "山脊"), ("Summit", "峰顶"), ("Breeze", "微风"),
    ("Cloud", "云朵"), ("Falcon", "猎鹰"), ("Glacier", "冰川"), ("Canyon", "峡谷"),
    ("Storm", "风暴"), ("Pine", "松林"), ("Aurora", "极光"), ("Thunder", "雷霆"),
    ("Rapid", "激流"), ("Horizon", "地平线"), ("Comet", "彗星"), ("Alpine", "高山"),
    ("Pathfinder", "探路者"), ("Nova", "新星"), ("Dune", "沙丘"), ("Coral", "珊瑚"),
    ("Tundra", "苔原"), ("Spark", "火花"), ("Echo", "回声"), ("Orbit", "轨道"),
]

PRODUCTS_PER_CATEGORY = 8

# colour key, English name, Chinese name, extra aliases (either language, with the
# chat spellings shoppers type: "hav u got blak in larg")
COLORS = [
    ("black", "black", "黑色", ["黑", "黑的", "blk", "纯黑", "blak", "blck"]),
    ("white", "white", "白色", ["白", "白的", "纯白", "wht", "whte"]),
    ("grey", "grey", "灰色", ["gray", "灰", "灰的", "gry"]),
    ("navy", "navy", "藏青色", ["藏青", "深蓝", "深蓝色", "navy blue", "dark blue"]),
    ("blue", "blue", "蓝色", ["蓝", "蓝的", "天蓝"]),
    ("red", "red", "红色", ["红", "红的", "大红"]),
    ("green", "green", "绿色", ["绿", "绿的", "军绿", "军绿色", "olive", "grn"]),
    ("orange", "orange", "橙色", ["橙", "橘色", "橘"]),
    ("yellow", "yellow", "黄色", ["黄", "黄的", "柠檬黄"]),
    ("pink", "pink", "粉色", ["粉", "粉的", "粉红"]),
    ("khaki", "khaki", "卡其色", ["卡其", "tan", "beige"]),
    ("purple", "purple", "紫色", ["紫", "紫的"]),
]

SIZE_SETS = {
    "shoe": [str(s) for s in range(36, 46)],
    "shoe_big": [str(s) for s in range(37, 47)],
    "sock": ["S", "M", "L"],
    "insole": ["S", "M", "L", "XL"],
    "apparel": ["S", "M", "L", "XL", "XXL"],
    "apparel_small": ["S", "M", "L", "XL"],
    "one": ["ONE"],
}

# Size words shoppers use (chat spellings too), mapped to canonical sizes.
SIZE_ALIASES = {
    "XXL": ["2xl", "xxl", "2XL", "加加大", "xx-large", "xxlarge"],
    "XL": ["xl", "加大", "加大码", "extra large", "x-large", "xlarge", "xtra large"],
    "L": ["l", "大码", "large", "larg", "lrg"],
    "M": ["m", "中码", "medium", "med"],
    "S": ["s", "小码", "small", "sml"],
    "ONE": ["均码", "one size", "onesize", "free size"],
}

# Size chart rows: (size set, size, height cm min, max, weight kg min, max, foot mm min, max)
SIZE_CHART = (
    [("apparel", "S", 155, 165, 45, 55, None, None),
     ("apparel", "M", 165, 172, 55, 65, None, None),
     ("apparel", "L", 172, 178, 65, 75, None, None),
     ("apparel", "XL", 178, 185, 75, 85, None, None),
     ("apparel", "XXL", 185, 195, 85, 100, None, None),
     ("apparel_small", "S", 155, 165, 45, 55, None, None),
     ("apparel_small", "M", 165, 172, 55, 65, None, None),
     ("apparel_small", "L", 172, 180, 65, 78, None, None),
     ("apparel_small", "XL", 180, 192, 78, 95, None, None),
     ("sock", "S", None, None, None, None, 220, 240),
     ("sock", "M", None, None, None, None, 240, 265),
     ("sock", "L", None, None, None, None, 265, 290),
     ("insole", "S", None, None, None, None, 220, 240),
     ("insole", "M", None, None, None, None, 240, 260),
     ("insole", "L", None, None, None, None, 260, 275),
     ("insole", "XL", None, None, None, None, 275, 295)]
    + [("shoe", str(s), None, None, None, None, 225 + 5 * (s - 36), 230 + 5 * (s - 36))
       for s in range(36, 46)]
    + [("shoe_big", str(s), None, None, None, None, 230 + 5 * (s - 37), 235 + 5 * (s - 37))
       for s in range(37, 47)]
)

# city key, English, Chinese, region (for transit times)
CITIES = [
    ("shanghai", "Shanghai", "上海", "east"), ("beijing", "Beijing", "北京", "north"),
    ("guangzhou", "Guangzhou", "广州", "south"), ("shenzhen", "Shenzhen", "深圳", "south"),
    ("hangzhou", "Hangzhou", "杭州", "east"), ("chengdu", "Chengdu", "成都", "west"),
    ("chongqing", "Chongqing", "重庆", "west"), ("wuhan", "Wuhan", "武汉", "central"),
    ("xian", "Xi'an", "西安", "northwest"), ("nanjing", "Nanjing", "南京", "east"),
    ("tianjin", "Tianjin", "天津", "north"), ("suzhou", "Suzhou", "苏州", "east"),
    ("changsha", "Changsha", "长沙", "central"), ("zhengzhou", "Zhengzhou", "郑州", "central"),
    ("qingdao", "Qingdao", "青岛", "north"), ("shenyang", "Shenyang", "沈阳", "northeast"),
    ("dalian", "Dalian", "大连", "northeast"), ("xiamen", "Xiamen", "厦门", "south"),
    ("fuzhou", "Fuzhou", "福州", "south"), ("kunming", "Kunming", "昆明", "southwest"),
    ("harbin", "Harbin", "哈尔滨", "northeast"), ("jinan", "Jinan", "济南", "north"),
    ("hefei", "Hefei", "合肥", "east"), ("nanchang", "Nanchang", "南昌", "central"),
    ("nanning", "Nanning", "南宁", "south"), ("guiyang", "Guiyang", "贵阳", "southwest"),
    ("lanzhou", "Lanzhou", "兰州", "northwest"), ("taiyuan", "Taiyuan", "太原", "north"),
    ("shijiazhuang", "Shijiazhuang", "石家庄", "north"),
    ("changchun", "Changchun", "长春", "northeast"), ("urumqi", "Urumqi", "乌鲁木齐", "far"),
    ("lhasa", "Lhasa", "拉萨", "far"), ("hohhot", "Hohhot", "呼和浩特", "northwest"),
    ("haikou", "Haikou", "海口", "south"), ("ningbo", "Ningbo", "宁波", "east"),
    ("dongguan", "Dongguan", "东莞", "south"), ("xining", "Xining", "西宁", "far"),
    ("yinchuan", "Yinchuan", "银川", "northwest"),
]

# warehouse id, city key, name en, name zh, cutoff, handling days, rest weekdays (0=Mon)
WAREHOUSES = [
    ("WH-SH", "shanghai", "Shanghai Jiading warehouse", "上海嘉定仓", "16:00", 0, "6"),
    ("WH-GZ", "guangzhou", "Guangzhou Baiyun warehouse", "广州白云仓", "15:00", 1, "5,6"),
    ("WH-CD", "chengdu", "Chengdu Shuangliu warehouse", "成都双流仓", "14:00", 1, "6"),
]

CARRIERS = [
    ("SF", "SF Express", "顺丰速运"),
    ("ZTO", "ZTO Express", "中通快递"),
    ("YTO", "YTO Express", "圆通速递"),
]

# Transit days (min, max) from a warehouse's region to a destination region.
REGION_DISTANCE = {
    "east": {"east": 0, "north": 1, "central": 1, "south": 1, "northeast": 2, "west": 2,
             "southwest": 2, "northwest": 2, "far": 3},
    "south": {"south": 0, "east": 1, "central": 1, "southwest": 1, "north": 2, "west": 1,
              "northeast": 3, "northwest": 2, "far": 3},
    "west": {"west": 0, "southwest": 1, "central": 1, "northwest": 1, "south": 1, "east": 2,
             "north": 2, "northeast": 3, "far": 2},
}

# Public holidays on which no warehouse ships (PRC calendar, 2026-2027).
HOLIDAYS = [
    ("2026-01-01", "New Year's Day", "元旦"),
    ("2026-02-16", "Spring Festival", "春节"), ("2026-02-17", "Spring Festival", "春节"),
    ("2026-02-18", "Spring Festival", "春节"), ("2026-02-19", "Spring Festival", "春节"),
    ("2026-02-20", "Spring Festival", "春节"), ("2026-02-21", "Spring Festival", "春节"),
    ("2026-02-22", "Spring Festival", "春节"),
    ("2026-04-05", "Qingming Festival", "清明节"),
    ("2026-05-01", "Labour Day", "劳动节"), ("2026-05-02", "Labour Day", "劳动节"),
    ("2026-05-03", "Labour Day", "劳动节"),
    ("2026-06-19", "Dragon Boat Festival", "端午节"),
    ("2026-09-25", "Mid-Autumn Festival", "中秋节"),
    ("2026-10-01", "National Day", "国庆节"), ("2026-10-02", "National Day", "国庆节"),
    ("2026-10-03", "National Day", "国庆节"), ("2026-10-04", "National Day", "国庆节"),
    ("2026-10-05", "National Day", "国庆节"), ("2026-10-06", "National Day", "国庆节"),
    ("2026-10-07", "National Day", "国庆节"),
    ("2027-01-01", "New Year's Day", "元旦"),
    ("2027-02-05", "Spring Festival", "春节"), ("2027-02-06", "Spring Festival", "春节"),
    ("2027-02-07", "Spring Festival", "春节"), ("2027-02-08", "Spring Festival", "春节"),
    ("2027-02-09", "Spring Festival", "春节"), ("2027-02-10", "Spring Festival", "春节"),
    ("2027-02-11", "Spring Festival", "春节"),
    ("2027-04-05", "Qingming Festival", "清明节"),
    ("2027-05-01", "Labour Day", "劳动节"), ("2027-05-02", "Labour Day", "劳动节"),
    ("2027-05-03", "Labour Day", "劳动节"),
    ("2027-10-01", "National Day", "国庆节"), ("2027-10-02", "National Day", "国庆节"),
    ("2027-10-03", "National Day", "国庆节"), ("2027-10-04", "National Day", "国庆节"),
    ("2027-10-05", "National Day", "国庆节"), ("2027-10-06", "National Day", "国庆节"),
    ("2027-10-07", "National Day", "国庆节"),
]

# Category complements: what real shoppers buy with an item of this category, with weight.
COMPLEMENTS = {
    "running_shoes": [("socks", 0.45), ("insoles", 0.25), ("caps", 0.12), ("tshirts", 0.15)],
    "hiking_shoes": [("socks", 0.4), ("insoles", 0.2), ("trekking_poles", 0.15),
                     ("pants", 0.15)],
    "shell_jackets": [("base_layers", 0.35), ("pants", 0.25), ("backpacks", 0.1)],
    "down_jackets": [("base_layers", 0.3), ("caps", 0.1), ("pants", 0.1)],
    "pants": [("base_layers", 0.15), ("hiking_shoes", 0.1), ("socks", 0.15)],
    "tshirts": [("caps", 0.2), ("socks", 0.2), ("pants", 0.1)],
    "backpacks": [("trekking_poles", 0.2), ("caps", 0.1)],
    "trekking_poles": [("backpacks", 0.15), ("socks", 0.1)],
    "base_layers": [("shell_jackets", 0.1), ("socks", 0.15)],
    "socks": [("insoles", 0.1)],
    "insoles": [("socks", 0.25)],
    "caps": [("tshirts", 0.15)],
}

MATERIALS = {
    "running_shoes": ("engineered mesh upper, EVA foam midsole, rubber outsole",
                      "工程网眼鞋面，EVA缓震中底，橡胶大底",
                      "hand wash cold, air dry away from direct sun",
                      "冷水手洗，阴凉处自然晾干，勿暴晒"),
    "hiking_shoes": ("waterproof membrane, suede and mesh upper, Vibram-style lugged outsole",
                     "防水透气膜，翻毛皮加网布鞋面，深齿耐磨大底",
                     "brush off mud, wipe clean, air dry; re-proof yearly",
                     "刷去泥土后擦拭，自然晾干，每年做一次防泼水护理"),
    "socks": ("merino wool blend (60% merino, 35% nylon, 5% elastane)",
              "美利奴羊毛混纺（60%美利奴羊毛，35%锦纶，5%氨纶）",
              "machine wash warm inside out, no bleach", "翻面机洗（温水），勿漂白"),
    "insoles": ("PU foam with arch support and carbon heel cup",
                "PU发泡，足弓支撑，碳纤维后跟杯", "hand wash, air dry", "手洗，自然晾干"),
    "shell_jackets": ("3-layer waterproof breathable nylon, taped seams, 20k/20k",
                      "三层防水透气尼龙面料，全压胶，防水透湿指数20000/20000",
                      "machine wash cold, tumble dry low to renew DWR",
                      "冷水机洗，低温烘干可恢复防泼水"),
    "down_jackets": ("800-fill-power goose down, ripstop nylon shell",
                     "800蓬鹅绒填充，防撕裂尼龙面料",
                     "machine wash cold with down detergent, tumble dry with balls",
                     "使用羽绒专用洗涤剂冷水机洗，低温烘干"),
    "base_layers": ("quick-dry polyester with odour control", "速干涤纶，抗菌防异味",
                    "machine wash cold, do not iron", "冷水机洗，勿熨烫"),
    "tshirts": ("recycled polyester, UPF 30+", "再生涤纶，UPF30+防晒",
                "machine wash cold", "冷水机洗"),
    "pants": ("stretch nylon with DWR finish, zip pockets", "弹力尼龙，防泼水处理，拉链口袋",
              "machine wash cold, line dry", "冷水机洗，挂干"),
    "backpacks": ("420D ripstop nylon, 28 L, padded hip belt",
                  "420D防撕裂尼龙，28升，加厚腰带", "spot clean only", "局部擦洗"),
    "caps": ("lightweight polyester, sweat-wicking band", "轻量涤纶，吸汗帽檐内衬",
             "hand wash", "手洗"),
    "trekking_poles": ("7075 aluminium, cork grips, flick locks, pair",
                       "7075铝合金，软木握把，外锁，一对装", "wipe dry after use",
                       "使用后擦干"),
}
