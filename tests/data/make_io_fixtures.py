"""Writes the small import fixtures of tests/unit/test_io.py and test_cli.py.

Run once (`python tests/data/make_io_fixtures.py`); the files are committed.
The expected values live in the tests, written out by hand.
"""

from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent


def stations_zh_xlsx():
    """A union's list as Excel keeps it: a title row, Chinese headers, a blank row, odd cell types."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "驿站名单"
    ws.append(["苏州工业园区工会驿站名单（2024年）"])
    ws.merge_cells("A1:Q1")
    ws.append(["序号", "编号", "名称", "英文名称", "类型", "服务", "地址", "行政区划代码", "承办单位",
               "运营单位", "联系电话", "开放时间", "状态", "核实日期", "经度", "纬度", "备注"])
    ws.append([1, "sip-001", "星海街工会驿站", "Xinghai Street rest station", "工会驿站",
               "饮水、热水、充电、微波炉", "苏州工业园区星海街9号", 320571, "工商银行星海支行",
               "苏州工业园区总工会", "0512-66681234", "Mo-Fr 08:00-18:00", "正常开放", date(2024, 5, 1),
               120.6712345, 31.3123456, "一楼大厅"])
    ws.append([2, "sip-002", "金鸡湖热茶点", None, "热茶点；驿站", "热水、座椅", "苏州工业园区湖滨路18号",
               "320571", "社区服务中心", "苏州工业园区总工会", "0512-66680000", "Mo-Su 07:00-19:00",
               "暂停开放", "2024-06-15", 120.6801, 31.3101, None])
    ws.append([3, "sip-003", "湖东法律援助点", None, "法援", "法律援助, wifi", "苏州工业园区现代大道88号",
               320571, None, "苏州工业园区总工会", 12345, None, None, None, 120.7102, 31.3205, None])
    ws.append([])
    ws.append([4, None, "独墅湖驿站", None, "驿站", None, "苏州工业园区仁爱路1号", 320571, None, None,
               None, "24/7", "正常", None, 120.7301, 31.2702, None])
    wb.save(HERE / "stations_zh.xlsx")


def stations_gbk_csv():
    """Chinese Excel's "CSV (comma delimited)": GBK, no BOM, Chinese headers."""
    text = (
        "ID,名称,地址,经度,纬度,类型,服务,开放时间,电话,区划代码,依托单位,管理单位,状态,更新日期\r\n"
        "cz-101,钟楼区邮政驿站,常州市钟楼区南大街1号,119.9501,31.7802,驿站,饮用水;卫生间;手机充电,"
        "Mo-Fr 08:30-17:30,0519-88880001,320404,中国邮政钟楼支局,钟楼区总工会,正常开放,2024-03-01\r\n"
        "cz-102,天宁区热茶点,常州市天宁区延陵西路2号,119.9702,31.7755,热茶点,热水,"
        "Mo-Su 07:00-19:00,0519-88880002,320402,天宁区便利店,天宁区总工会,关闭,2024-03-02\r\n"
    )
    (HERE / "stations_gbk.csv").write_bytes(text.encode("gbk"))


def stations_bad_csv():
    """One problem per row; rows 2 and 12 are valid (the header is row 1)."""
    rows = [
        "id,name,lon,lat,kinds,services,opening_hours",
        "b-01,好驿站,120.60,31.30,rest,drinking_water,24/7",          # 2 valid
        "b-02,,120.61,31.31,rest,,24/7",                               # 3 name missing
        "b-03,坐标错,abc,31.32,rest,,24/7",                            # 4 lon not a number
        "b-04,纬度超界,120.63,95,rest,,24/7",                          # 5 lat out of range
        "b-05,经纬颠倒,31.34,120.64,rest,,24/7",                        # 6 swapped
        "b-06,巴黎,2.35,48.85,rest,,24/7",                             # 7 outside China
        "b-07,咖啡馆,120.66,31.36,cafe,,24/7",                          # 8 unknown kind
        "b-08,按摩,120.67,31.37,rest,massage,24/7",                     # 9 unknown service
        "b-09,时间错,120.68,31.38,rest,,有空就开",                        # 10 bad opening hours
        "b-01,重复编号,120.69,31.39,rest,,24/7",                        # 11 duplicate id (row 2)
        "b-10,也好,120.70,31.40,hot_tea,hot_water,Mo-Fr 08:00-18:00",   # 12 valid
    ]
    (HERE / "stations_bad.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def stations_bad_geojson():
    import json

    def pt(lon, lat):
        return {"type": "Point", "coordinates": [lon, lat]}

    feats = [
        {"type": "Feature", "geometry": pt(120.6, 31.3), "properties": {"id": "g-1", "name": "好", "kinds": ["rest"]}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[120, 31], [121, 31], [121, 32], [120, 31]]]},
         "properties": {"id": "g-2", "name": "面", "kinds": ["rest"]}},
        {"type": "Feature", "geometry": None, "properties": {"id": "g-3", "name": "无点", "kinds": ["rest"]}},
        {"type": "Feature", "geometry": pt(120.6, 31.3), "properties": {"id": "g-4", "name": "", "kinds": ["rest"]}},
        {"type": "Feature", "geometry": pt(120.7, 31.4), "properties": {"id": "g-5", "name": "也好", "kinds": "hot_tea",
                                                                         "colour": "red"}},
    ]
    doc = {"type": "FeatureCollection", "features": feats}
    (HERE / "stations_bad.geojson").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def not_a_zip_xlsx():
    (HERE / "not_a_zip.xlsx").write_text("名称,经度,纬度\n这不是 Excel 文件,120,31\n", encoding="utf-8")


if __name__ == "__main__":
    stations_zh_xlsx()
    stations_gbk_csv()
    stations_bad_csv()
    stations_bad_geojson()
    not_a_zip_xlsx()
