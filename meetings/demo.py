"""The demo's weekly meetings (seed_demo): last week's finalised minutes of 金东南路社区 and this week's meeting,
which opens with the item still to do. Seeded once: a community that has meetings already is left as it is."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from grids.models import Area
from issues.sla import LOCAL_TZ
from meetings import services
from meetings.agenda import monday_of
from meetings.models import Meeting

DEMO_COMMUNITY = "360702091005"  # 金东南路社区, where community1 works
DEMO_CHAIR = "community1"


def demo_meetings() -> int:
    """Seed the demo community's last two weekly meetings unless it has meetings; return how many were created."""
    area = Area.objects.filter(code=DEMO_COMMUNITY).first()
    chair = get_user_model().objects.filter(username=DEMO_CHAIR).first()
    if area is None or chair is None or Meeting.objects.filter(area=area).exists():
        return 0
    this_week = monday_of(timezone.now().astimezone(LOCAL_TZ).date())
    with transaction.atomic():
        last = services.meeting_open(area=area, week=this_week - timedelta(days=7), actor=chair)
        lights = services.item_add(meeting=last, actor=chair, title="小区主干道三盏路灯不亮，居民夜间出行不便")
        services.item_decide(
            item=lights,
            actor=chair,
            decision="报市政更换灯具；社区网格员每晚巡查一次，修好后回访提出意见的居民。",
            assignee="department:shizheng",
            due_date=this_week + timedelta(days=2),
        )
        services.item_review(item=lights, actor=chair, outcome="carried")
        bikes = services.item_add(meeting=last, actor=chair, title="电动车在楼道充电，存在火灾隐患")
        services.item_decide(
            item=bikes,
            actor=chair,
            decision="物业在车棚加装充电桩，社区逐栋张贴告知书。",
            assignee="department:jindong-wuye",
            due_date=this_week - timedelta(days=3),
        )
        services.item_review(item=bikes, actor=chair, outcome="done")
        services.meeting_finalise(meeting=last, actor=chair)
        services.meeting_open(area=area, week=this_week, actor=chair)
    return 2
